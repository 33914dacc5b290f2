"""The CLI as a subprocess and topic readers for the replay tests (frames with known capture
times come from ``vigil.testing.produce_timed``)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import TopicPartition

from schemas.contracts import serde_for
from vigil import kafka
from vigil.testing import poll_until, vigil_command
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

VIGIL = vigil_command()[0]


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

    def at_end() -> bool:
        positions = {tp.partition: tp.offset for tp in cons.position(cons.assignment())}
        if all(positions.get(p, 0) >= end for p, end in ends.items()):
            return True
        for msg in cons.consume(500, 0.5):
            if msg.error() is None:
                out.append(serde.decode(msg))
        return False

    try:
        poll_until(at_end, 60, interval_s=0)
    finally:
        cons.close()
    return out
