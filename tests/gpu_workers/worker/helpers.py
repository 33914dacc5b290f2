"""A cheap detector for the long worker tests and a read_committed reader of the worker's
outputs (frames of bikes.mp4 as FrameEvents come from ``vigil.testing``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from confluent_kafka import Message

from schemas.contracts import serde_for
from tests.gpu_workers.onnx_builders import constant_output_model
from vigil import kafka
from vigil.testing import poll_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def read_topic(
    settings: VigilSettings, topic: str, expected: int, timeout_s: float = 120.0, idle_s: float = 3
) -> list[Message]:
    """Every committed record of ``topic`` (read_committed), waiting until ``expected`` arrived,
    then ``idle_s`` more so duplicates would show."""
    cons = kafka.consumer(settings, f"reader-{time.monotonic_ns()}")
    cons.subscribe([topic])
    out: list[Message] = []
    quiet_until: float | None = None

    def drained() -> bool:
        nonlocal quiet_until
        batch = [m for m in cons.consume(500, 0.5) if m.error() is None]
        out.extend(batch)
        if len(out) >= expected:
            quiet_until = quiet_until or time.monotonic() + idle_s
            if time.monotonic() >= quiet_until:
                return True
        return False

    try:
        poll_until(drained, timeout_s, interval_s=0)
    finally:
        cons.close()
    return out


def detections(settings: VigilSettings, expected: int, timeout_s: float = 120.0) -> list[Any]:
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    return [serde.decode(m) for m in read_topic(settings, topic, expected, timeout_s)]


def tiny_detector(folder: Path) -> Path:
    """A 32x32 YOLO-layout ONNX with a known output: inference costs ~nothing, so the long
    tests measure the worker's Kafka side, not the CPU."""
    folder.mkdir(parents=True, exist_ok=True)
    candidates = np.asarray([[16, 16, 8, 8, 0.9, 0.0], [8, 8, 4, 4, 0.0, 0.7]], np.float32)
    constant_output_model(folder / "tiny.onnx", candidates.T.copy(), (32, 32))
    spec = {
        "name": "tiny-yolo",
        "family": "yolo",
        "file": "tiny.onnx",
        "input_size": [32, 32],
        "letterbox": True,
        "labels": ["person", "car"],
        "score_threshold": 0.5,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
