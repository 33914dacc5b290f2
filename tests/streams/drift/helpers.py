"""Shared by the drift tests: the real-frame pool, the drift app as a real subprocess, and
producing / reading the topics it uses (readers and the video from ``vigil.testing``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streams.drift.process import DriftProcess
from streams.drift.samples import FramePool
from vigil.testing import TopicReader, bikes_mp4, closed_windows, produce_events
from vigil.testing import provision as make_topics
from vigil.topics import Topic
from vigil_app.demo.drift import load_default_pool
from vigil_app.settings import DriftSettings, VigilSettings

FRAME_MS = 100


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


def produce(settings: VigilSettings, events: Iterable[dict[str, Any] | bytes]) -> int:
    """DetectionEvents keyed by camera; ``bytes`` items go as they are, keyed ``garbage``."""
    return produce_events(settings, Topic.DETECTIONS, events, raw_key="garbage")


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


# re-exported: the drift tests reach these as ``h.<name>``
__all__ = [
    "DriftProcess",
    "DriftSettings",
    "TopicReader",
    "bikes_mp4",
    "closed_windows",
    "make_topics",
]
