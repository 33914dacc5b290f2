"""A batch of DetectionEvent payloads decoded and mapped by chDB instead of fastavro + Python
(issue 17, point 5): measured by ``bench.sink_decode``, not yet the sink's path.

The payloads (framing header stripped) become one Avro Object Container File with **one block
per message**, so a datum's bytes are bounded by its own block: a short datum or random bytes
fail the whole batch (the caller falls back to the per-message path, which dead-letters exactly
the bad one). Measured limits, why this is not wired into the sink yet:

- ClickHouse's Avro reader ignores bytes left at the end of a block, so a datum with trailing
  garbage is accepted here while ``schemas.serde`` sends it to the DLQ: the verdict would depend
  on the path.
- A container written with an older writer schema fails on the first field it lacks
  ("Field carried_from not found in Avro schema"): such batches must take the per-message path.
- The Debian server (ClickHouse 18.16) has no Avro input at all: decoding for it needs an
  in-process chDB beside the server client.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from connectors.sinks.clickhouse.rows import COLUMNS, DAY_MS, MAX_TS_MS

# The DetectionEvent fields the tables need, as the stage table holds them (ClickHouse reads
# Avro fields by name; the others are skipped).
STAGE_STRUCTURE = (
    "frame_id String, camera_id String, sequence Int64, capture_ts_ms Int64, "
    "inference_ts_ms Int64, model_name String, model_version String, frame_width Int32, "
    "frame_height Int32, detections Array(Tuple(label String, class_id Int32, score Float32, "
    "box Tuple(x_min Float32, y_min Float32, x_max Float32, y_max Float32), "
    "embedding Array(Float32), track_id Nullable(Int64))), "
    "image_stats Tuple(brightness Float32, contrast Float32, sharpness Float32, "
    "dhash Nullable(Int64)), "
    "carried_from Nullable(String)"
)


def varint(n: int) -> bytes:
    """Avro's zig-zag varint of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def container(schema_json: str, bodies: Sequence[bytes | memoryview]) -> bytes:
    """An Avro Object Container File of ``bodies`` (schemaless datums of ``schema_json``), one
    block each: count 1, the datum's size, the datum, the sync marker."""
    sync = os.urandom(16)
    meta = {b"avro.schema": schema_json.encode(), b"avro.codec": b"null"}
    header = [b"Obj\x01", varint(len(meta))]
    for key, value in meta.items():
        header += [varint(len(key)), key, varint(len(value)), value]
    header += [b"\x00", sync]
    one = varint(1)
    parts: list[bytes | memoryview] = list(header)
    for body in bodies:
        parts += [one, varint(len(body)), body, sync]
    return b"".join(parts)


def _frame_select(offsets: str, partitions: str, topic: str) -> list[str]:
    """Source and frame-level expressions of a stage row numbered ``n`` (0-based)."""
    return [
        f"'{topic}'",
        f"{partitions}[n + 1]",
        f"{offsets}[n + 1]",
    ]


_FRAME = (
    "frame_id, camera_id, sequence, capture_ts_ms, inference_ts_ms, model_name, model_version, "
    "toUInt32(greatest(frame_width, 0)), toUInt32(greatest(frame_height, 0)), carried_from"
)
_BOX = ("x_min", "y_min", "x_max", "y_max")


def invalid_sql(stage: str) -> str:
    """How many staged events the Python path would refuse (``rows.py``: times outside
    1970..2100, non-finite score, box or image statistics)."""
    finite_objects = "arrayAll(d -> isFinite(d.score + " + " + ".join(f"d.box.{b}" for b in _BOX)
    return (
        f"SELECT count() FROM {stage} WHERE NOT ("  # noqa: S608
        f"capture_ts_ms BETWEEN 0 AND {MAX_TS_MS - 1} "
        f"AND inference_ts_ms BETWEEN 0 AND {MAX_TS_MS - 1} "
        "AND isFinite(image_stats.brightness + image_stats.contrast + image_stats.sharpness) "
        f"AND {finite_objects}), detections))"
    )


def insert_sql(
    db: str, stage: str, topic: str, partitions: list[int], offsets: list[int]
) -> list[str]:
    """``INSERT ... SELECT`` of the staged events into ``frames`` and ``detections`` (row
    ``n`` of the stage is message ``n``: the stage is read with ``max_threads = 1``)."""
    parts = "[" + ",".join(map(str, partitions)) + "]"
    offs = "[" + ",".join(map(str, offsets)) + "]"
    src = ", ".join(_frame_select(offs, parts, topic))
    numbered = f"(SELECT *, rowNumberInAllBlocks() AS n FROM {stage})"  # noqa: S608
    frames = (
        f"INSERT INTO {db}.frames ({', '.join(c for c, _ in COLUMNS['frames'])}) "  # noqa: S608
        f"SELECT {src}, {_FRAME}, image_stats.brightness, image_stats.contrast, "
        "image_stats.sharpness, length(detections), "
        "toUInt32(arrayCount(d -> notEmpty(d.embedding), detections)) "
        f"FROM {numbered} SETTINGS max_threads = 1"
    )
    detections = (
        f"INSERT INTO {db}.detections ({', '.join(c for c, _ in COLUMNS['detections'])}) "
        f"SELECT {src}, toUInt32(i - 1), {_FRAME}, d.label, d.class_id, d.score, "
        + ", ".join(f"d.box.{b}" for b in _BOX)
        + ", d.track_id, toUInt8(notEmpty(d.embedding)) "
        f"FROM {numbered} ARRAY JOIN detections AS d, arrayEnumerate(detections) AS i "
        "SETTINGS max_threads = 1"
    )
    return [frames, detections]


def day_sql(stage: str) -> str:
    """The UTC day of each staged event, in stage order (the writer's runs split by day)."""
    return f"SELECT intDiv(capture_ts_ms, {DAY_MS}) FROM {stage} SETTINGS max_threads = 1"  # noqa: S608
