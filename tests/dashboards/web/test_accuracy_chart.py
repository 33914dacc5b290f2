"""The dashboard's accuracy chart and the ``vigil_model_accuracy`` gauge read the ``accuracy``
table (``vigil accuracy``) on chDB and on the server: one series per model version and metric,
daily points, the newest computation of a day, replays named so; the gauge the latest day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from connectors.sinks.clickhouse.accuracy_tables import ACCURACY_COLUMNS
from connectors.sinks.clickhouse.schema import Retention, migrate
from dashboards.web.accuracy import AccuracyCollector
from dashboards.web.charts import ChartReader
from vigil.clickhouse import connect
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)


def _rows(prod: str) -> list[tuple[object, ...]]:
    def row(
        day: date,
        camera: str,
        version: str,
        topic: str,
        recall: float,
        map50: float | None,
        computed: int,
    ) -> tuple[object, ...]:
        return ("default", day, camera, "ssd", version, topic, 20, 40, 40, 30, 10, 10,
                0.75, recall, map50, computed)  # fmt: skip

    return [
        row(YESTERDAY, "*", "v1", prod, 0.5, 0.4, 1),
        row(YESTERDAY, "*", "v1", prod, 0.8, 0.7, 2),  # recomputed: this one counts
        row(TODAY, "*", "v1", prod, 0.6, 0.5, 3),
        row(TODAY, "*", "v2", "vigil.candidates.detections", 0.9, None, 4),
        row(TODAY, "gate", "v1", prod, 0.1, 0.1, 5),  # another camera
    ]


def test_the_chart_and_the_gauge_read_the_accuracy_table(ch_settings: VigilSettings) -> None:
    prod = Topic.DETECTIONS.name_in(ch_settings.topics)
    db = ch_settings.clickhouse.database
    client = connect(ch_settings)
    try:
        migrate(client, db, Retention())
        client.insert(f"{db}.accuracy", [n for n, _ in ACCURACY_COLUMNS], _rows(prod))
    finally:
        client.close()
    reader = ChartReader(ch_settings)
    chart = reader.chart("accuracy", camera="", minutes=60)
    day_s = [
        int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) for d in (YESTERDAY, TODAY)
    ]
    series = {s["name"]: s["points"] for s in chart["series"]}
    assert series == {
        "ssd@v1 mAP@0.5": [[day_s[0], 0.7], [day_s[1], 0.5]],
        "ssd@v1 recall": [[day_s[0], 0.8], [day_s[1], 0.6]],
        "ssd@v2 (replay) recall": [[day_s[1], 0.9]],  # no mAP: no labelled object that day
    }
    gate = {s["name"]: s["points"] for s in reader.chart("accuracy", camera="gate")["series"]}
    assert gate == {"ssd@v1 mAP@0.5": [[day_s[1], 0.1]], "ssd@v1 recall": [[day_s[1], 0.1]]}

    gauge = AccuracyCollector()
    gauge.attach(reader, refresh_s=0)
    values = {
        (labels["version"], labels["topic"], labels["camera"], labels["metric"]): sample.value
        for family in gauge.collect()
        for sample in family.samples
        for labels in [sample.labels]
    }
    assert values[("v1", prod, "*", "recall")] == pytest.approx(0.6)  # the latest day
    assert values[("v1", prod, "*", "map50")] == pytest.approx(0.5)
    assert values[("v1", prod, "gate", "precision")] == pytest.approx(0.75)
    assert ("v2", "vigil.candidates.detections", "*", "map50") not in values
    assert values[("v2", "vigil.candidates.detections", "*", "recall")] == pytest.approx(0.9)
