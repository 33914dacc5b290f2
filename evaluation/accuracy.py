"""Accuracy over time: every recorded model's detections of the labelled frames, scored against
the labels per dataset x model version x topic x camera x day (UTC, by capture time), and
written to ``<db>.accuracy``; ``latest_accuracy`` reads the newest day back for later callers
(the retraining loop, the promotion gate).

The figures are ``vigil eval --labels``'s (evaluation/coco.py): IoU >= 0.5 matches, greedy by
score; precision and recall over the detections the model recorded (its own score threshold
applies, as in production); mAP@0.5 is COCO's 101-point AP averaged over the labelled categories
with objects that day (NULL when there are none). Detections of labels the labels files have no
category for are ignored. A frame a model recorded twice (a replay run twice) counts once, as
its latest record (evaluation/source.py). Each day is also pooled over all cameras
(camera ``*``), which is what ``latest_accuracy`` gives without a camera."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from connectors.sinks.clickhouse.accuracy_tables import ACCURACY_COLUMNS
from evaluation import coco
from evaluation.coco import GroundTruth
from evaluation.label_store import DEFAULT_DATASET, dataset_name, stored_labels
from evaluation.source import Frame, ModelRef, Window, load_frames, recorded_models
from vigil.clickhouse import ClickHouseClient

# SQL here is built from the configured database name (settings pattern) and values quoted by
# _q (evaluation/source.py's quoting), hence the S608 exemptions.

ALL_CAMERAS = "*"
METRICS = ("map50", "precision", "recall")


def _q(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Accuracy:
    """One row of ``<db>.accuracy``."""

    dataset: str
    day: date
    camera_id: str
    model_name: str
    model_version: str
    kafka_topic: str
    frames: int
    objects: int
    detections: int
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    map50: float | None
    computed_ms: int

    @property
    def model(self) -> str:
        return f"{self.model_name}@{self.model_version}"

    def metric(self, name: str) -> float | None:
        if name not in METRICS:
            raise ValueError(f"unknown accuracy metric {name!r}; known: {', '.join(METRICS)}")
        value: float | None = getattr(self, name)
        return value


if tuple(f.name for f in fields(Accuracy)) != tuple(name for name, _ in ACCURACY_COLUMNS):
    raise RuntimeError("Accuracy and the accuracy table's columns differ")  # caught at import


@dataclass(frozen=True)
class AccuracyRun:
    dataset: str
    labelled: int  # frames the dataset has labels for
    unrecorded: tuple[str, ...]  # labelled frames no model has a record of (not an error)
    rows: tuple[Accuracy, ...]


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date()


def score(
    truth: GroundTruth, frames: Mapping[str, Frame], ids: Sequence[str], iou: float
) -> dict[str, Any]:
    """The figures of one group of labelled frames (``ids``, each in ``frames``)."""
    part = GroundTruth({fid: truth.frames[fid] for fid in ids}, truth.categories)
    m_ap, per = coco.evaluate(part, {fid: frames[fid].detections for fid in ids}, iou)
    tp = sum(s.tp for s in per.values())
    fp = sum(s.fp for s in per.values())
    fn = sum(s.fn for s in per.values())
    return {
        "frames": len(ids),
        "objects": sum(s.objects for s in per.values()),
        "detections": sum(s.detections for s in per.values()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "map50": None if m_ap != m_ap else m_ap,  # NaN: no objects
    }


def model_rows(
    truth: GroundTruth,
    model: ModelRef,
    frames: Mapping[str, Frame],
    dataset: str,
    iou: float,
    now_ms: int,
) -> list[Accuracy]:
    """Per camera x day, and per day over all cameras, of one model's labelled frames."""
    groups: dict[tuple[str, date], list[str]] = defaultdict(list)
    for fid in sorted(frames):
        if fid in truth.frames:
            f = frames[fid]
            day = day_of(f.capture_ts_ms)
            groups[(f.camera_id, day)].append(fid)
            groups[(ALL_CAMERAS, day)].append(fid)
    return [
        Accuracy(
            dataset=dataset,
            day=day,
            camera_id=camera,
            model_name=model.name,
            model_version=model.version,
            kafka_topic=model.topic,
            computed_ms=now_ms,
            **score(truth, frames, ids, iou),
        )
        for (camera, day), ids in sorted(groups.items())
    ]


def compute_accuracy(
    client: ClickHouseClient,
    db: str,
    dataset: str = DEFAULT_DATASET,
    iou: float = 0.5,
    now_ms: int | None = None,
) -> AccuracyRun:
    """Score every recorded model (production's and the candidates' topics) on the dataset."""
    dataset = dataset_name(dataset)
    at = int(time.time() * 1000) if now_ms is None else now_ms
    truth = stored_labels(client, db, dataset)
    rows: list[Accuracy] = []
    seen: set[str] = set()
    if truth.frames:
        for name, version, topic, _n in recorded_models(client, db):
            model = ModelRef(name, version, topic)
            frames = load_frames(client, db, model, Window(), labelled_in=dataset)
            seen.update(frames)
            rows.extend(model_rows(truth, model, frames, dataset, iou, at))
    unrecorded = tuple(sorted(set(truth.frames) - seen))
    return AccuracyRun(dataset, len(truth.frames), unrecorded, tuple(rows))


def write_accuracy(client: ClickHouseClient, db: str, rows: Sequence[Accuracy]) -> None:
    """One INSERT; a day computed again replaces the earlier figures (newest computed_ms)."""
    client.insert(f"{db}.accuracy", [n for n, _ in ACCURACY_COLUMNS], [astuple(r) for r in rows])


def _row(values: Sequence[Any]) -> Accuracy:
    raw: dict[str, Any] = dict(zip((n for n, _ in ACCURACY_COLUMNS), values, strict=True))
    day = raw["day"]
    raw["day"] = day if isinstance(day, date) else date.fromisoformat(str(day))
    for name in ("frames", "objects", "detections", "tp", "fp", "fn", "computed_ms"):
        raw[name] = int(raw[name])
    for name in ("precision", "recall"):
        raw[name] = float(raw[name])
    raw["map50"] = None if raw["map50"] is None else float(raw["map50"])
    return Accuracy(**raw)


def accuracy_rows(
    client: ClickHouseClient,
    db: str,
    *,
    dataset: str | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    camera: str | None = None,
    topic: str | None = None,
) -> list[Accuracy]:
    """The stored figures (each key's newest computation), ordered by key and day."""
    conds = [
        f"{column} = {_q(value)}"
        for column, value in (
            ("dataset", dataset),
            ("model_name", model_name),
            ("model_version", model_version),
            ("camera_id", camera),
            ("kafka_topic", topic),
        )
        if value is not None
    ]
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    names = ", ".join(n for n, _ in ACCURACY_COLUMNS)
    newest: dict[tuple[Any, ...], Accuracy] = {}
    for values in client.query(f"SELECT {names} FROM {db}.accuracy FINAL{where}"):  # noqa: S608
        row = _row(values)
        key = (
            row.dataset,
            row.model_name,
            row.model_version,
            row.kafka_topic,
            row.camera_id,
            row.day,
        )
        if key not in newest or newest[key].computed_ms < row.computed_ms:
            newest[key] = row
    return [newest[k] for k in sorted(newest)]


def latest_days(rows: Sequence[Accuracy], min_frames: int = 1) -> list[Accuracy]:
    """Per dataset x model version x topic x camera, its latest day with ``min_frames``."""
    latest: dict[tuple[str, ...], Accuracy] = {}
    for row in rows:
        if row.frames < min_frames:
            continue
        key = (row.dataset, row.model_name, row.model_version, row.kafka_topic, row.camera_id)
        if key not in latest or latest[key].day < row.day:
            latest[key] = row
    return [latest[k] for k in sorted(latest)]


def latest_accuracy(
    client: ClickHouseClient,
    db: str,
    model_name: str,
    model_version: str,
    camera: str | None = None,
    *,
    dataset: str = DEFAULT_DATASET,
    topic: str | None = None,
    min_frames: int = 1,
) -> Accuracy | None:
    """The newest day's figures of a model version (all cameras pooled unless ``camera``), on
    ``topic`` or, without it, on whichever topic has the newest day (then the most frames);
    None when it has no labelled frame with ``min_frames``."""
    rows = accuracy_rows(
        client,
        db,
        dataset=dataset_name(dataset),
        model_name=model_name,
        model_version=model_version,
        camera=ALL_CAMERAS if camera is None else camera,
        topic=topic,
    )
    candidates = latest_days(rows, min_frames)
    return max(candidates, key=lambda r: (r.day, r.frames), default=None)
