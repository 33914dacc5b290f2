"""Reading two models' frames back from the sink's tables, on chDB and on the ClickHouse
server: model selection, topic preference, time and camera windows, and a frame recorded twice
(a replay run twice) counted once, as its latest record."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.rows import detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from evaluation.report import EvalRequest, build_report
from evaluation.source import SelectionError, Window, load_frames, resolve
from schemas.types import DetectionEvent
from vigil.clickhouse import connect
from vigil.testing import samples
from vigil_app.settings import VigilSettings

T0 = (time.time_ns() // 1_000_000 // 1000) * 1000 - 600_000
PERSON = {"x_min": 0.1, "y_min": 0.1, "x_max": 0.3, "y_max": 0.5}
CAR = {"x_min": 0.5, "y_min": 0.5, "x_max": 0.9, "y_max": 0.9}


def event(i: int, camera: str, version: str, dets: list[tuple[str, float, Any]]) -> dict[str, Any]:
    record = samples.detection_event()
    template = record["detections"][1]
    record.update(
        frame_id=f"{camera}-{i}",
        camera_id=camera,
        sequence=i,
        capture_ts_ms=T0 + i * 1000,
        inference_ts_ms=T0 + i * 1000 + 40,
        model_name="ssd",
        model_version=version,
        detections=[{**template, "label": lb, "score": s, "box": b} for lb, s, b in dets],
    )
    return record


@pytest.fixture
def client(sink_settings: VigilSettings) -> Any:
    db = sink_settings.clickhouse.database
    ch = connect(sink_settings)
    migrate(ch, db, Retention())
    writer = ClickHouseWriter(ch, db, BatchPolicy())
    both = [("person", 0.9, PERSON), ("car", 0.6, CAR)]
    rows = [
        (event(0, "a", "1+aaa", both), ("prod.detections", 0, 0)),
        (event(1, "a", "1+aaa", both), ("prod.detections", 0, 1)),
        (event(2, "b", "1+aaa", both), ("prod.detections", 1, 0)),
        # the same model replayed onto the candidates' topic
        (event(0, "a", "1+aaa", both), ("cand.detections", 0, 0)),
        # a candidate, replayed twice: the second run (higher offsets) counts
        (event(0, "a", "2+bbb", [("person", 0.9, PERSON)]), ("cand.detections", 0, 1)),
        (event(1, "a", "2+bbb", []), ("cand.detections", 0, 2)),
        (event(0, "a", "2+bbb", both), ("cand.detections", 0, 3)),
        (event(1, "a", "2+bbb", [("person", 0.8, PERSON)]), ("cand.detections", 0, 4)),
        (event(2, "b", "2+bbb", [("car", 0.7, CAR)]), ("cand.detections", 1, 0)),
    ]
    for record, src in rows:
        mapped = detection_rows(cast(DetectionEvent, record), src)
        writer.add(mapped, mapped.row_count)
    writer.flush()
    yield ch
    ch.close()


def test_selection_and_latest_record(client: Any, sink_settings: VigilSettings) -> None:
    db = sink_settings.clickhouse.database
    prod = resolve(client, db, "ssd@1", ["prod.detections", "cand.detections"])
    assert (prod.version, prod.topic) == ("1+aaa", "prod.detections")
    with pytest.raises(SelectionError, match="ambiguous"):
        resolve(client, db, "ssd", ["cand.detections"])  # 1+aaa and 2+bbb there
    same = resolve(client, db, "ssd@1", ["cand.detections", "prod.detections"])
    assert (same.version, same.topic) == ("1+aaa", "cand.detections")  # production, replayed
    cand = resolve(client, db, "ssd@2+bbb", ["cand.detections", "prod.detections"])
    with pytest.raises(SelectionError, match="recorded models: ssd@1\\+aaa"):
        resolve(client, db, "yolo@1", ["prod.detections"])

    frames = load_frames(client, db, cand, Window())
    assert sorted(frames) == ["a-0", "a-1", "b-2"]
    assert [d.label for d in frames["a-0"].detections] == ["person", "car"]  # the latest run
    assert frames["a-1"].detections[0].score == pytest.approx(0.8)
    assert sorted(load_frames(client, db, cand, Window(T0 + 1000, None, ()))) == ["a-1", "b-2"]
    assert sorted(load_frames(client, db, cand, Window(None, None, ("b",)))) == ["b-2"]


def test_report_over_the_tables(client: Any, sink_settings: VigilSettings) -> None:
    req = EvalRequest("ssd@1", "ssd@2", ("prod.detections",), ("cand.detections",))
    report = build_report(client, sink_settings.clickhouse.database, req)
    assert report["frames_compared"] == 3
    overall = report["candidate_vs_baseline"]["overall"]
    # a-0: both match; a-1: person matched, car lost; b-2: person lost, car matched
    assert (overall["matched"], overall["baseline_only"], overall["candidate_only"]) == (4, 2, 0)
    assert report["frame_agreement"] == pytest.approx(1 / 3)
    per_label = {d["label"]: d["count_delta"] for d in report["deltas"]["per_label"]}
    assert per_label == {"car": -1, "person": -1}
    assert report["speed"]["baseline"]["frames"] == 3
