"""Events -> table rows. Every row starts with its source (topic, partition, offset), which is
what makes the sink exactly-once: ClickHouse itself records how far each partition got.

A DetectionEvent becomes one ``detections`` row per detected object (object index = position
in the event) and one ``frames`` row (image statistics and counts, so frames with no detections
are visible); an Alert one ``alerts`` row; a DriftStat one ``drift`` row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from schemas.types import Alert, DetectionEvent, DriftStat
from vigil.errors import VigilError
from vigil.topics import Topic

SOURCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kafka_topic", "String"),
    ("kafka_partition", "UInt32"),
    ("kafka_offset", "Int64"),
)

# The frame-level fields every DetectionEvent row repeats, per object and per frame: each
# column is the DetectionEvent field of the same name, copied as it is (so a new field is one
# line here, plus the migration that adds it to existing tables).
FRAME_COLUMNS: tuple[tuple[str, str], ...] = (
    ("frame_id", "String"),
    ("camera_id", "String"),
    ("sequence", "Int64"),
    ("capture_ts_ms", "Int64"),
    ("inference_ts_ms", "Int64"),
    ("model_name", "String"),
    ("model_version", "String"),
    ("frame_width", "UInt32"),
    ("frame_height", "UInt32"),
    ("carried_from", "Nullable(String)"),  # migration 4 adds it to tables made before it
)

# (name, ClickHouse type) in insert order; types chosen to exist on ClickHouse 18.16 and 26.x.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "detections": (
        *SOURCE_COLUMNS,
        ("object_index", "UInt32"),
        *FRAME_COLUMNS,
        ("label", "String"),
        ("class_id", "Int32"),
        ("score", "Float32"),
        ("x_min", "Float32"),
        ("y_min", "Float32"),
        ("x_max", "Float32"),
        ("y_max", "Float32"),
        ("track_id", "Nullable(Int64)"),
        ("has_embedding", "UInt8"),
    ),
    "frames": (
        *SOURCE_COLUMNS,
        *FRAME_COLUMNS,
        ("brightness", "Float32"),
        ("contrast", "Float32"),
        ("sharpness", "Float32"),
        ("detection_count", "UInt32"),
        ("embedding_count", "UInt32"),
    ),
    "alerts": (
        *SOURCE_COLUMNS,
        ("alert_id", "String"),
        ("rule_id", "String"),
        ("incident_id", "String"),
        ("camera_id", "String"),
        ("frame_id", "String"),
        ("label", "String"),
        ("score", "Float32"),
        ("poi_id", "Nullable(String)"),
        ("poi_similarity", "Nullable(Float32)"),
        ("severity", "String"),
        ("capture_ts_ms", "Int64"),
        ("alert_ts_ms", "Int64"),
        ("track_id", "Nullable(Int64)"),
        ("details", "String"),
    ),
    "drift": (
        *SOURCE_COLUMNS,
        ("window_start_ms", "Int64"),
        ("window_end_ms", "Int64"),
        ("camera_id", "String"),
        ("model_name", "String"),
        ("model_version", "String"),
        ("feature", "String"),
        ("statistic", "String"),
        ("value", "Float64"),
        ("threshold", "Float64"),
        ("alarm", "UInt8"),
        ("sample_size", "Int64"),
    ),
}

# Which tables a topic feeds, in the order they are written.
TABLES_OF: dict[Topic, tuple[str, ...]] = {
    Topic.DETECTIONS: ("frames", "detections"),
    Topic.ALERTS: ("alerts",),
    Topic.DRIFT: ("drift",),
}
ALL_TABLES: tuple[str, ...] = ("frames", "detections", "alerts", "drift")

# DateTime covers 1970..2106; refuse times a partition key cannot hold.
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
DAY_MS = 86_400_000

Row = tuple[Any, ...]


class MalformedEvent(VigilError, ValueError):
    """A decoded event the tables cannot hold (it goes to the DLQ with this reason)."""


@dataclass(frozen=True)
class Mapped:
    """One Kafka message as rows, with its source and the UTC day its rows are partitioned by."""

    topic: str
    partition: int
    offset: int
    day: int
    rows: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def _ts(time_ms: int, name: str) -> int:
    value = int(time_ms)
    if not 0 <= value < MAX_TS_MS:
        raise MalformedEvent(f"{name}={value} is outside 1970..2100 (UTC ms)")
    return value


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise MalformedEvent(f"{name} is not a finite number: {value}")
    return float(value)


# C-speed field access (one tuple per call) instead of one lookup per field in Python
_FRAME_FIELDS = itemgetter(*(name for name, _ in FRAME_COLUMNS))
_OBJECT_FIELDS = itemgetter("label", "class_id", "score")
_BOX_FIELDS = itemgetter("x_min", "y_min", "x_max", "y_max")
_BOX_NAMES = ("score", "box.x_min", "box.y_min", "box.x_max", "box.y_max")
_STATS_FIELDS = itemgetter("brightness", "contrast", "sharpness")
_STATS_NAMES = ("brightness", "contrast", "sharpness")
_WIDTH = next(i for i, (name, _) in enumerate(FRAME_COLUMNS) if name == "frame_width")
# columns migrations added to tables made before them: (table, column, the column it follows)
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("frames", "carried_from", "frame_height"),
    ("detections", "carried_from", "frame_height"),
)


def _all_finite(values: Sequence[float], names: Sequence[str]) -> None:
    """One check for all: a sum is finite only if every term is (an overflow to inf is told
    apart by checking the terms)."""
    if math.isfinite(sum(values)):
        return
    for value, name in zip(values, names, strict=True):
        _finite(value, name)


def detection_rows(record: DetectionEvent, src: tuple[str, int, int]) -> Mapped:
    frame: tuple[Any, ...] = _FRAME_FIELDS(record)
    capture = _ts(record["capture_ts_ms"], "capture_ts_ms")
    _ts(record["inference_ts_ms"], "inference_ts_ms")
    if frame[_WIDTH] < 0 or frame[_WIDTH + 1] < 0:  # width and height: UInt32 columns
        fixed = list(frame)
        fixed[_WIDTH], fixed[_WIDTH + 1] = max(0, fixed[_WIDTH]), max(0, fixed[_WIDTH + 1])
        frame = tuple(fixed)
    objects: list[Row] = []
    embeddings = 0
    for index, det in enumerate(record["detections"]):
        label, class_id, score = _OBJECT_FIELDS(det)
        box = _BOX_FIELDS(det["box"])
        _all_finite((score, *box), _BOX_NAMES)
        has_embedding = 1 if det.get("embedding") else 0
        embeddings += has_embedding
        objects.append(
            (*src, index, *frame, label, class_id, score, *box, det.get("track_id"), has_embedding)
        )
    stats = _STATS_FIELDS(record["image_stats"])
    _all_finite(stats, _STATS_NAMES)
    frame_row = (*src, *frame, *stats, len(objects), embeddings)
    rows = {"frames": [frame_row]}
    if objects:
        rows["detections"] = objects
    return Mapped(*src, day=capture // DAY_MS, rows=rows)


def alert_rows(record: Alert, src: tuple[str, int, int]) -> Mapped:
    alerted = _ts(record["alert_ts_ms"], "alert_ts_ms")
    row = (
        *src,
        record["alert_id"],
        record["rule_id"],
        record["incident_id"],
        record["camera_id"],
        record["frame_id"],
        record["label"],
        _finite(record["score"], "score"),
        record.get("poi_id"),
        record.get("poi_similarity"),
        str(record["severity"]),
        _ts(record["capture_ts_ms"], "capture_ts_ms"),
        alerted,
        record.get("track_id"),
        json.dumps(record.get("details") or {}, sort_keys=True),
    )
    return Mapped(*src, day=alerted // DAY_MS, rows={"alerts": [row]})


def drift_rows(record: DriftStat, src: tuple[str, int, int]) -> Mapped:
    start = _ts(record["window_start_ms"], "window_start_ms")
    row = (
        *src,
        start,
        _ts(record["window_end_ms"], "window_end_ms"),
        record["camera_id"],
        record["model_name"],
        record["model_version"],
        record["feature"],
        str(record["statistic"]),
        _finite(record["value"], "value"),
        _finite(record["threshold"], "threshold"),
        int(bool(record["alarm"])),
        record["sample_size"],
    )
    return Mapped(*src, day=start // DAY_MS, rows={"drift": [row]})


# each takes the record of its topic's schema (the serde resolved it against that schema)
MAPPERS: dict[Topic, Callable[[Any, tuple[str, int, int]], Mapped]] = {
    Topic.DETECTIONS: detection_rows,
    Topic.ALERTS: alert_rows,
    Topic.DRIFT: drift_rows,
}


def map_event(kind: Topic, record: Mapping[str, Any], src: tuple[str, int, int]) -> Mapped:
    """The rows of one decoded event of topic ``kind``; ``MalformedEvent`` if it cannot be
    stored."""
    try:
        return MAPPERS[kind](record, src)
    except (KeyError, TypeError) as exc:
        raise MalformedEvent(f"{kind.name} record is missing or mistypes {exc}") from exc


def empty(src: tuple[str, int, int]) -> Mapped:
    """A message that yields no rows (sent to the DLQ): its offset still counts as done."""
    return Mapped(*src, day=-1, rows={})
