"""Events -> rows and day runs (pure logic)."""

from __future__ import annotations

from typing import cast

import pytest

from connectors.sinks.clickhouse.rows import (
    COLUMNS,
    DAY_MS,
    MalformedEvent,
    Mapped,
    alert_rows,
    detection_rows,
    drift_rows,
    empty,
    map_event,
)
from connectors.sinks.clickhouse.writer import runs
from schemas.types import Alert, DetectionEvent, DriftStat
from vigil.testing import samples
from vigil.topics import Topic

SRC = ("vigil.detections", 3, 41)


def test_a_detection_event_is_one_row_per_object_and_one_frame_row() -> None:
    mapped = detection_rows(cast(DetectionEvent, samples.detection_event()), SRC)
    objects, frames = mapped.rows["detections"], mapped.rows["frames"]
    assert [r[:4] for r in objects] == [(*SRC, 0), (*SRC, 1)]
    names = [c for c, _ in COLUMNS["detections"]]
    person = dict(zip(names, objects[0], strict=True))
    assert person["label"] == "person"
    assert person["track_id"] == 42
    assert person["has_embedding"] == 1
    assert dict(zip(names, objects[1], strict=True))["has_embedding"] == 0
    frame = dict(zip([c for c, _ in COLUMNS["frames"]], frames[0], strict=True))
    assert frame["detection_count"] == 2
    assert frame["embedding_count"] == 1
    assert frame["sharpness"] == 1250.0
    assert mapped.row_count == 3
    assert mapped.day == 1_795_300_000_007 // DAY_MS


def test_a_frame_without_detections_still_has_its_frame_row() -> None:
    event = {**samples.detection_event(), "detections": []}
    mapped = detection_rows(cast(DetectionEvent, event), SRC)
    assert set(mapped.rows) == {"frames"}


def test_alert_and_drift_rows_fit_their_columns() -> None:
    alert = alert_rows(cast(Alert, samples.alert()), SRC).rows["alerts"][0]
    assert len(alert) == len(COLUMNS["alerts"])
    assert alert[-1] == '{"zone": "lobby"}'
    drift = drift_rows(cast(DriftStat, samples.drift_stat()), SRC).rows["drift"][0]
    assert len(drift) == len(COLUMNS["drift"])
    assert drift[-2:] == (1, 9000)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"capture_ts_ms": -1}, "capture_ts_ms=-1"),
        ({"inference_ts_ms": 5_000_000_000_000}, "inference_ts_ms"),
        ({"image_stats": {"brightness": float("nan"), "contrast": 0, "sharpness": 0}}, "finite"),
        ({"detections": None}, "missing or mistypes"),
    ],
)
def test_unstorable_events_are_malformed(change: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        map_event(Topic.DETECTIONS, {**samples.detection_event(), **change}, SRC)


def _m(offset: int, day: int) -> Mapped:
    return Mapped("t", 0, offset, day, {"frames": [(offset,)]})


def test_runs_split_at_day_changes_in_arrival_order() -> None:
    batch = [_m(0, 5), _m(1, 5), empty(("t", 1, 9)), _m(2, 6), _m(3, 5)]
    assert [[m.offset for m in run] for run in runs(batch)] == [[0, 1, 9], [2], [3]]
    assert list(runs([])) == []
