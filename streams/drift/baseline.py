"""Pinned references ("baselines") per (camera, model version), stored as JSON files.

Why files under the data directory: a baseline is a few kilobytes, written rarely by an
operator (``vigil drift baseline``) and read when a window closes; a file is durable across
restarts, readable by people, and needs no extra topic. Multi-host deployments put
``drift.baselines_dir`` on a shared volume. Automatic references (the first N windows of a
model version) live in the app's changelog-backed table; the app also writes a copy here as
``*.auto.json`` so ``vigil drift baseline --show`` can print them, but only pinned files are
ever used as the reference.

A baseline is computed by replaying ``vigil.detections``: every event of the camera whose
capture time falls in ``[from, to)`` is folded into one summary per model version.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from confluent_kafka import Message, TopicPartition

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.drift.settings import DriftProcessSettings
from streams.drift.window import NUMERIC, Summary, add_event, empty, median
from vigil import kafka
from vigil.follow import at, read_to_end
from vigil.topics import Topic


@dataclass(frozen=True)
class Baseline:
    camera_id: str
    model_name: str
    model_version: str
    from_ms: int
    to_ms: int
    source: str  # "pinned" or "auto"
    created_ms: int
    summary: Summary


class BaselineStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[Path, tuple[float, Summary | None]] = {}

    @classmethod
    def of(cls, settings: DriftProcessSettings) -> BaselineStore:
        return cls(settings.drift.baselines_dir or settings.data_dir / "drift" / "baselines")

    def path(self, camera: str, version: str, source: str = "pinned") -> Path:
        suffix = ".json" if source == "pinned" else f".{source}.json"
        return self.folder / f"{quote(camera, safe='')}__{quote(version, safe='')}{suffix}"

    def save(self, baseline: Baseline) -> Path:
        """Atomic write (temp file + rename): a reader never sees half a baseline."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(baseline.camera_id, baseline.model_version, baseline.source)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(baseline.__dict__), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def pinned(self, camera: str, version: str) -> Summary | None:
        """The pinned summary, re-read only when the file changed."""
        path = self.path(camera, version)
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            data = json.loads(path.read_text(encoding="utf-8"))
            cached = (mtime, data["summary"])
            self._cache[path] = cached
        return cached[1]

    def all(self) -> list[Baseline]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob("*.json")):
            out.append(Baseline(**json.loads(path.read_text(encoding="utf-8"))))
        return out


def compute(
    settings: DriftProcessSettings,
    camera: str,
    from_ms: int,
    to_ms: int,
    model_version: str | None = None,
    timeout_s: float = 120.0,
) -> list[Baseline]:
    """Replay the detections topic up to its current end; one baseline per model version."""
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    summaries: dict[str, tuple[str, Summary]] = {}

    def fold(msg: Message) -> None:
        try:
            event = serde.decode(msg)
        except SerdeError:
            return  # the drift app dead-letters these; a baseline just skips them
        if event["camera_id"] != camera or not from_ms <= event["capture_ts_ms"] < to_ms:
            return
        if model_version is not None and event["model_version"] != model_version:
            return
        _name, summary = summaries.setdefault(
            event["model_version"], (event["model_name"], empty())
        )
        add_event(summary, event, dark_brightness=settings.drift.dark_brightness)

    reader = f"vigil-drift-baseline-{os.getpid()}"
    read_to_end(
        settings,
        topic,
        fold,
        start=at(_starts(settings, topic, from_ms, reader)),
        name=reader,
        timeout_s=timeout_s,
    )
    now = int(time.time() * 1000)
    return [
        Baseline(camera, name, version, from_ms, to_ms, "pinned", now, summary)
        for version, (name, summary) in sorted(summaries.items())
    ]


def _starts(
    settings: DriftProcessSettings, topic: str, from_ms: int, name: str
) -> dict[tuple[str, int], int]:
    """Record timestamps are at or after capture, so nothing captured after ``from_ms`` sits
    before the offset of timestamp ``from_ms``; a partition without one is read whole."""
    probe = kafka.consumer(settings, f"{name}-probe")  # never subscribes: joins no group
    try:
        query = [
            TopicPartition(topic, tp.partition, max(from_ms, 0))
            for tp in kafka.end_offsets(probe, topic)
        ]
        found = probe.offsets_for_times(query, 30)
    finally:
        probe.close()
    return {(topic, tp.partition): tp.offset for tp in found if tp.offset >= 0}


def describe(summary: Summary) -> dict[str, Any]:
    """A few headline numbers of a summary, for people."""

    labels = sorted(summary["labels"].items(), key=lambda kv: -kv[1])[:3]
    return {
        "frames": summary["frames"],
        "detections": summary["detections"],
        "top_labels": ", ".join(f"{k} {v}" for k, v in labels) or "-",
        "brightness_median": median(summary["hist"]["brightness"], NUMERIC["brightness"]),
        "sharpness_median": median(summary["hist"]["sharpness"], NUMERIC["sharpness"]),
    }
