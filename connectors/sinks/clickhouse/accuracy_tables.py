"""The tables of ground truth and accuracy (migration 5): ``labels`` (what people labelled,
imported by ``vigil dataset import``), ``accuracy`` (precision, recall and mAP@0.5 per dataset x
model version x topic x camera x day) and ``accuracy_alerts`` (the threshold alerts raised, so a
re-run does not raise them again).

All three are ReplacingMergeTree on the key a later write must replace, with the write time as
the version: a re-import of a frame replaces its labels (the frame's objects are arrays in one
row, so a frame labelled with no objects is a row with empty arrays, still a labelled frame),
and a re-computation replaces the day's figures. Merges drop the older rows eventually; readers
take the latest row per key themselves (``FINAL``, or the newest ``*_ms``), so they never count
a frame or a day twice in between. The SQL runs unchanged on chDB and on ClickHouse 18.16
(whose ReplacingMergeTree takes an unsigned version column)."""

from __future__ import annotations

from connectors.sinks.clickhouse.ddl import Ddl

# (name, ClickHouse type) of each table's columns, in insert order
LABEL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dataset", "String"),
    ("frame_id", "String"),
    ("import_id", "String"),
    ("source_file", "String"),
    ("source_format", "String"),
    ("imported_ms", "UInt64"),
    ("categories", "Array(String)"),  # the file's categories: what the labeller looked for
    ("label", "Array(String)"),
    ("x_min", "Array(Float32)"),
    ("y_min", "Array(Float32)"),
    ("x_max", "Array(Float32)"),
    ("y_max", "Array(Float32)"),
)

ACCURACY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("dataset", "String"),
    ("day", "Date"),  # UTC, of the frames' capture time
    ("camera_id", "String"),  # "*": all cameras pooled
    ("model_name", "String"),
    ("model_version", "String"),
    ("kafka_topic", "String"),
    ("frames", "UInt32"),
    ("objects", "UInt32"),
    ("detections", "UInt32"),
    ("tp", "UInt32"),
    ("fp", "UInt32"),
    ("fn", "UInt32"),
    ("precision", "Float64"),
    ("recall", "Float64"),
    ("map50", "Nullable(Float64)"),  # NULL: no labelled object that day
    ("computed_ms", "UInt64"),
)

ACCURACY_ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("alert_id", "String"),
    ("rule_id", "String"),
    ("camera_id", "String"),
    ("model_name", "String"),
    ("model_version", "String"),
    ("day", "Date"),
    ("value", "Float64"),
    ("threshold", "Float64"),
    ("raised_ms", "UInt64"),
)

ACCURACY_KEY = "dataset, model_name, model_version, kafka_topic, camera_id, day"


def _columns(cols: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in cols)


def accuracy_tables(ddl: Ddl) -> list[str]:
    """CREATE statements of migration 5 (idempotent). On a cluster each Distributed front
    shards by the replacing key: rows replace each other only within a shard."""
    return [
        f"{ddl.create('labels')} ({_columns(LABEL_COLUMNS)}, "
        "imported_time DateTime('UTC') DEFAULT toDateTime(intDiv(imported_ms, 1000), 'UTC')) "
        f"ENGINE = {ddl.engine('labels', 'ReplacingMergeTree', 'imported_ms')} "
        "ORDER BY (dataset, frame_id)",
        *ddl.front("labels", "cityHash64(dataset, frame_id)"),
        f"{ddl.create('accuracy')} ({_columns(ACCURACY_COLUMNS)}, "
        "computed_time DateTime('UTC') DEFAULT toDateTime(intDiv(computed_ms, 1000), 'UTC')) "
        f"ENGINE = {ddl.engine('accuracy', 'ReplacingMergeTree', 'computed_ms')} "
        f"PARTITION BY toYYYYMM(day) ORDER BY ({ACCURACY_KEY})",
        *ddl.front("accuracy", f"cityHash64({ACCURACY_KEY})"),
        f"{ddl.create('accuracy_alerts')} ({_columns(ACCURACY_ALERT_COLUMNS)}) "
        f"ENGINE = {ddl.engine('accuracy_alerts', 'ReplacingMergeTree', 'raised_ms')} "
        "ORDER BY alert_id",
        *ddl.front("accuracy_alerts", "cityHash64(alert_id)"),
    ]
