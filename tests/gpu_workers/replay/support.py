"""Frames with known capture times (record timestamp = capture time, as a camera-stamping
source would produce them), the CLI as a subprocess, and topic readers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import TopicPartition

from schemas.contracts import serde_for
from tests.gpu_workers.worker.helpers import frame_event
from vigil import kafka
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

VIGIL = str(Path(sys.executable).with_name("vigil"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def produce_timed(
    settings: VigilSettings,
    camera: str,
    jpegs: list[bytes],
    base_ms: int,
    step_ms: int,
    *,
    stamp: bool = True,
) -> list[dict[str, Any]]:
    """Frames ``camera-<i>`` captured at ``base_ms + i * step_ms``; with ``stamp`` the record
    timestamp is the capture time, else the producer's clock (as Vigil's ingest does)."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    prod = kafka.producer(settings)
    events = []
    for i, jpeg in enumerate(jpegs):
        ts = base_ms + i * step_ms
        ev = frame_event(camera, i, jpeg, capture_ts_ms=ts, ingest_ts_ms=ts)
        value = serde.serialize(ev, topic=topic)
        if stamp:
            prod.produce(topic, value, key=camera, timestamp=ts)
        else:
            prod.produce(topic, value, key=camera)
        prod.poll(0)
        events.append(ev)
    if prod.flush(60) != 0:
        raise RuntimeError("frames not delivered")
    return events


def write_config(settings: VigilSettings, path: Path) -> Path:
    """The test's settings as a YAML file for a ``vigil`` subprocess."""
    doc = {
        "kafka": {"bootstrap_servers": settings.kafka.bootstrap_servers},
        "topics": {"prefix": settings.topics.prefix},
        "data_dir": str(settings.data_dir),
        "cache_dir": str(settings.cache_dir),
        "log_level": "WARNING",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def vigil(config: Path, *args: str, timeout: float = 170) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIGIL, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def committed(settings: VigilSettings, group: str, topic: str) -> dict[int, int]:
    cons = kafka.consumer(settings, group)
    try:
        parts = [TopicPartition(tp.topic, tp.partition) for tp in kafka.end_offsets(cons, topic)]
        return {tp.partition: tp.offset for tp in cons.committed(parts, timeout=30)}
    finally:
        cons.close()


def read_all(settings: VigilSettings, topic: str, role: Topic) -> list[dict[str, Any]]:
    """Every committed record of ``topic`` up to its current end (read_committed)."""
    serde = serde_for(settings, role)
    cons = kafka.consumer(settings, f"reader-{time.monotonic_ns()}")
    ends = {tp.partition: tp.offset for tp in kafka.end_offsets(cons, topic) if tp.offset > 0}
    if not ends:
        cons.close()
        return []
    cons.assign([TopicPartition(topic, p, 0) for p in ends])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            positions = {tp.partition: tp.offset for tp in cons.position(cons.assignment())}
            if all(positions.get(p, 0) >= end for p, end in ends.items()):
                break
            for msg in cons.consume(500, 0.5):
                if msg.error() is None:
                    out.append(serde.decode(msg))
    finally:
        cons.close()
    return out
