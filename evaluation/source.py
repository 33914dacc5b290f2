"""Two models' detections of the same frames, from the ClickHouse sink's tables.

A model is ``NAME@VERSION`` (``VERSION`` as recorded, or its prefix before ``+``; without it,
the only version seen). Each side is read from one Kafka topic's rows (the baseline from
production's detections topic, the candidate from the candidates' topic; each falls back to the
other when it is not there), so the production model replayed can be compared with itself. A
frame recorded more than once for a model (a replay run twice) counts once: its latest
record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evaluation.matching import Det
from vigil.clickhouse import ClickHouseClient
from vigil.errors import VigilError

# SQL here is built from the configured database name (settings pattern) and values quoted
# by _q; hence the S608 exemptions.


class SelectionError(VigilError, LookupError):
    """No (or more than one) recorded model matches a NAME@VERSION."""


def _q(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str  # as recorded
    topic: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class Frame:
    frame_id: str
    camera_id: str
    capture_ts_ms: int
    inference_ts_ms: int
    width: int
    height: int
    source: tuple[str, int, int]
    detections: list[Det] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    from_ms: int | None = None
    to_ms: int | None = None
    cameras: tuple[str, ...] = ()

    def where(self) -> str:
        parts = []
        if self.from_ms is not None:
            parts.append(f"capture_ts_ms >= {int(self.from_ms)}")
        if self.to_ms is not None:
            parts.append(f"capture_ts_ms <= {int(self.to_ms)}")
        if self.cameras:
            parts.append(f"camera_id IN ({', '.join(_q(c) for c in self.cameras)})")
        return "".join(f" AND {p}" for p in parts)


def recorded_models(client: ClickHouseClient, db: str) -> list[tuple[str, str, str, int]]:
    """(model name, version, topic, frames) of everything the frames table holds."""
    rows = client.query(
        "SELECT model_name, model_version, kafka_topic, count() FROM "  # noqa: S608
        f"{db}.frames GROUP BY model_name, model_version, kafka_topic "
        "ORDER BY model_name, model_version, kafka_topic"
    )
    return [(str(n), str(v), str(t), int(c)) for n, v, t, c in rows]


def resolve(client: ClickHouseClient, db: str, spec: str, topics: Sequence[str]) -> ModelRef:
    """The recorded model ``spec`` names, on the first of ``topics`` that has it."""
    name, _, version = spec.partition("@")
    seen = recorded_models(client, db)
    for topic in topics:
        versions = sorted(
            {
                v
                for n, v, t, _c in seen
                if n == name
                and t == topic
                and (not version or v == version or v.split("+")[0] == version)
            }
        )
        if len(versions) == 1:
            return ModelRef(name, versions[0], topic)
        if len(versions) > 1:
            raise SelectionError(
                f"{spec} is ambiguous on {topic}: recorded versions {versions}; "
                "give NAME@VERSION exactly"
            )
    known = ", ".join(f"{n}@{v} ({t}, {c} frames)" for n, v, t, c in seen) or "none"
    raise SelectionError(f"no frames of {spec} in ClickHouse; recorded models: {known}")


def load_frames(
    client: ClickHouseClient,
    db: str,
    model: ModelRef,
    window: Window,
    labelled_in: str | None = None,
) -> dict[str, Frame]:
    """Frame id -> the model's latest record of that frame, with its detections; with
    ``labelled_in``, only the frames that dataset of ``<db>.labels`` holds."""
    cond = (
        f"model_name = {_q(model.name)} AND model_version = {_q(model.version)} "
        f"AND kafka_topic = {_q(model.topic)}{window.where()}"
    )
    if labelled_in is not None:
        cond += (
            f" AND frame_id IN (SELECT frame_id FROM {db}.labels "  # noqa: S608
            f"WHERE dataset = {_q(labelled_in)})"
        )
    frames: dict[str, Frame] = {}
    for fid, cam, cap, inf, w, h, topic, part, off in client.query(
        "SELECT frame_id, camera_id, capture_ts_ms, inference_ts_ms, frame_width, "  # noqa: S608
        "frame_height, kafka_topic, kafka_partition, kafka_offset "
        f"FROM {db}.frames WHERE {cond}"
    ):
        source = (str(topic), int(part), int(off))
        old = frames.get(str(fid))
        if old is None or source > old.source:
            frames[str(fid)] = Frame(str(fid), str(cam), int(cap), int(inf), int(w), int(h), source)
    for fid, topic, part, off, label, score, x0, y0, x1, y1 in client.query(
        "SELECT frame_id, kafka_topic, kafka_partition, kafka_offset, label, score, "  # noqa: S608
        f"x_min, y_min, x_max, y_max FROM {db}.detections WHERE {cond} "
        "ORDER BY kafka_topic, kafka_partition, kafka_offset, object_index"
    ):
        frame = frames.get(str(fid))
        if frame is None or frame.source != (str(topic), int(part), int(off)):
            continue
        box = (float(x0), float(y0), float(x1), float(y1))
        frame.detections.append(Det(str(label), float(score), box))
    return frames
