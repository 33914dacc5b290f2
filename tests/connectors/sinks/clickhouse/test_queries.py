"""Each named query (dashboards/clickhouse/*.sql) on a known dataset, on both backends, and
``vigil sql`` printing them as a table, CSV or JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.accuracy_tables import ACCURACY_COLUMNS
from connectors.sinks.clickhouse.queries import named_queries
from connectors.sinks.clickhouse.rows import Mapped, alert_rows, detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from schemas.types import Alert, DetectionEvent
from tests.connectors.sinks.clickhouse.support import open_client
from vigil.testing import samples
from vigil_app.cli import app
from vigil_app.settings import VigilSettings

HOUR, MINUTE = 3_600_000, 60_000
H0 = (int(datetime.now(UTC).timestamp() * 1000) // HOUR - 2) * HOUR


def text(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def event(offset: int, camera: str, at_ms: int, version: str, dets: list[tuple[str, float]]):
    record = samples.detection_event()
    template = record["detections"][1]
    record.update(
        frame_id=f"{camera}-{offset}",
        camera_id=camera,
        capture_ts_ms=at_ms,
        inference_ts_ms=at_ms + 50,
        model_version=version,
        detections=[{**template, "label": label, "score": score} for label, score in dets],
    )
    return detection_rows(cast(DetectionEvent, record), ("t.detections", 0, offset))


def dataset() -> list[Mapped]:
    alert = samples.alert()
    return [
        event(0, "cam-a", H0 + MINUTE, "v1", [("person", 0.875), ("person", 0.625), ("car", 0.5)]),
        event(1, "cam-a", H0 + 70 * MINUTE, "v1", [("person", 0.75)]),
        event(2, "cam-b", H0 + 5 * MINUTE, "v1", []),
        event(3, "cam-b", H0 + 6 * MINUTE, "v2", [("person", 0.5), ("dog", 0.25)]),
        event(4, "cam-c", H0 + 7 * MINUTE, "v2", []),
        alert_rows(
            cast(
                Alert,
                {**alert, "alert_id": "a-1", "camera_id": "cam-a", "alert_ts_ms": H0 + 2 * MINUTE},
            ),
            ("t.alerts", 0, 0),
        ),
        alert_rows(
            cast(
                Alert,
                {
                    **alert,
                    "alert_id": "a-2",
                    "camera_id": "cam-b",
                    "severity": "LOW",
                    "alert_ts_ms": H0 + 8 * MINUTE,
                },
            ),
            ("t.alerts", 0, 1),
        ),
    ]


EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "detections_per_camera_per_hour": [
        ("cam-a", text(H0 + HOUR), 1),
        ("cam-a", text(H0), 3),
        ("cam-b", text(H0), 2),
    ],
    "top_labels_per_camera": [
        ("cam-a", "person", 3, 0.75),
        ("cam-a", "car", 1, 0.5),
        ("cam-b", "dog", 1, 0.25),
        ("cam-b", "person", 1, 0.5),
    ],
    "alert_timeline": [
        (text(H0 + 8 * MINUTE), "cam-b", "lobby-after-hours", "LOW", "face", 0.75, "a-2", "i-1"),
        (text(H0 + 2 * MINUTE), "cam-a", "lobby-after-hours", "HIGH", "face", 0.75, "a-1", "i-1"),
    ],
    "busiest_cameras": [("cam-a", 2, 4, 2.0), ("cam-b", 2, 2, 1.0), ("cam-c", 1, 0, 0.0)],
    "model_version_comparison": [
        ("car", "ssd-mobilenet-v2-coco", "v1", 1, 0.5),
        ("dog", "ssd-mobilenet-v2-coco", "v2", 1, 0.25),
        ("person", "ssd-mobilenet-v2-coco", "v1", 3, 0.75),
        ("person", "ssd-mobilenet-v2-coco", "v2", 1, 0.5),
    ],
    "frames_without_detections": [
        ("cam-b", "cam-b-2", "v1", text(H0 + 5 * MINUTE)),
        ("cam-c", "cam-c-4", "v2", text(H0 + 7 * MINUTE)),
    ],
    "detections_per_minute": [
        ("cam-a", "person", text(H0 + 70 * MINUTE), 1, [0.75, 0.75, 0.75]),
        ("cam-b", "dog", text(H0 + 6 * MINUTE), 1, [0.25, 0.25, 0.25]),
        ("cam-b", "person", text(H0 + 6 * MINUTE), 1, [0.5, 0.5, 0.5]),
        ("cam-a", "car", text(H0 + MINUTE), 1, [0.5, 0.5, 0.5]),
        ("cam-a", "person", text(H0 + MINUTE), 2, None),
    ],
}


# (dataset, day, camera, model, version, topic, frames, objects, detections, tp, fp, fn,
#  precision, recall, map50, computed_ms): v1's day computed twice (the newer replaces it)
ACCURACY_ROWS = [
    ("default", date(2026, 11, 30), "cam-a", "ssd", "v1", "vigil.detections",
     20, 40, 44, 36, 8, 4, 0.8182, 0.9, 0.7, 1_000),
    ("default", date(2026, 11, 30), "cam-a", "ssd", "v1", "vigil.detections",
     20, 40, 42, 36, 6, 4, 0.8571, 0.9, 0.75, 2_000),
    ("default", date(2026, 12, 1), "cam-a", "ssd", "v2", "vigil.detections",
     10, 20, 20, 15, 5, 5, 0.75, 0.75, None, 3_000),
]  # fmt: skip
EXPECTED["accuracy_over_time"] = [
    ("2026-12-01", "default", "ssd", "v2", "vigil.detections", "cam-a",
     10, 20, 20, 15, 5, 5, 0.75, 0.75, None),
    ("2026-11-30", "default", "ssd", "v1", "vigil.detections", "cam-a",
     20, 40, 42, 36, 6, 4, 0.8571, 0.9, 0.75),
]  # fmt: skip


def normal(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Backends differ in number and date types (chDB answers JSON): compare values."""
    out: list[Any] = []
    for value in row:
        if isinstance(value, date):
            out.append(value.isoformat())
        elif isinstance(value, float):
            out.append(round(value, 4))
        elif isinstance(value, list):
            out.append([round(float(v), 4) for v in value])
        else:
            out.append(value)
    return tuple(out)


@pytest.fixture
def loaded(sink_settings: VigilSettings) -> VigilSettings:
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    migrate(client, db, Retention())
    writer = ClickHouseWriter(client, db, BatchPolicy())
    for item in dataset():
        writer.add(item, item.row_count)
    writer.flush()
    names = [n for n, _ in ACCURACY_COLUMNS]
    client.insert(f"{db}.accuracy", names, ACCURACY_ROWS)
    client.close()
    return sink_settings


def test_every_named_query_is_tested() -> None:
    assert set(named_queries()) == set(EXPECTED)


def test_named_queries_and_their_views(loaded: VigilSettings) -> None:
    db = loaded.clickhouse.database
    client = open_client(loaded)
    try:  # chDB: a session left open fails every later test of the process
        for name, query in named_queries().items():
            rows = [normal(r) for r in client.query(query.sql(db))]
            expected = EXPECTED[name]
            if name == "detections_per_minute":  # two scores a minute: quantiles interpolate
                assert [r[:4] for r in rows] == [e[:4] for e in expected], name
                assert rows[-1][4][0] == pytest.approx(0.75, abs=0.13)
                expected = [*expected[:-1], rows[-1]]
            assert rows == expected, name
            view = [normal(r) for r in client.query(f"SELECT * FROM {db}.q_{name}")]
            assert view == rows, name
    finally:
        client.close()


def test_vigil_sql_prints_named_and_adhoc_queries(
    loaded: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(loaded.data_dir))
    monkeypatch.setenv("VIGIL_CLICKHOUSE__URL", loaded.clickhouse.url)
    monkeypatch.setenv("VIGIL_CLICKHOUSE__DATABASE", loaded.clickhouse.database)
    runner = CliRunner()

    result = runner.invoke(app, ["sql", "--query", "busiest_cameras", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [(r["camera_id"], r["frames"]) for r in json.loads(result.output)] == [
        ("cam-a", 2),
        ("cam-b", 2),
        ("cam-c", 1),
    ]
    result = runner.invoke(
        app,
        [
            "sql",
            "SELECT camera_id, count() AS n FROM {db}.frames GROUP BY camera_id ORDER BY camera_id",
            "-f",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["camera_id,n", "cam-a,2", "cam-b,2", "cam-c,1"]
    result = runner.invoke(app, ["sql", "--query", "top_labels_per_camera"])
    assert result.exit_code == 0, result.output
    assert "person" in result.output
    assert "cam-b" in result.output
    result = runner.invoke(app, ["sql", "--list"])
    assert all(name in result.output for name in EXPECTED)
    result = runner.invoke(app, ["sql", "--query", "nope"])
    assert result.exit_code == 2
    assert "no named query 'nope'" in result.output
