"""The drift app killed mid-window and restarted, late and out-of-order events, and bad input,
through the real broker with the app as a real subprocess."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from streams.drift.samples import FramePool, stream
from tests.streams.drift import helpers as h
from vigil.dlq import read_envelope
from vigil.testing import user_cache_dir
from vigil.testing.samples import detection_event
from vigil.topics import Topic
from vigil_app.settings import DriftSettings, VigilSettings


@pytest.fixture(scope="module")
def frame_pool() -> FramePool:
    return h.pool(user_cache_dir())


def test_kill_mid_window_and_restart_loses_nothing_and_counts_nothing_twice(
    settings: VigilSettings, frame_pool: FramePool, tmp_path: Path
) -> None:
    settings = h.drift_settings(settings, len(frame_pool))
    window_ms = len(frame_pool) * h.FRAME_MS
    h.make_topics(settings)
    events = list(stream(frame_pool, "restart", 7, seed=3))
    expected: dict[int, int] = {}
    for e in events:
        start = e["capture_ts_ms"] // window_ms * window_ms
        expected[start] = expected.get(start, 0) + 1
    mid = 4 * window_ms + window_ms // 2
    first = [e for e in events if e["capture_ts_ms"] < mid]
    h.produce(settings, first)
    app = h.DriftProcess(settings, tmp_path / "drift.log")
    drift = h.TopicReader(settings, Topic.DRIFT)
    try:
        app.start()
        drift.until(lambda rs: h.closed_windows(rs, "restart") >= 4, 90, app)
        app.kill()  # SIGKILL while window 4 is half-way: uncommitted offsets get replayed
        h.produce(settings, events[len(first) :])
        app.start()
        rows = drift.until(lambda rs: h.closed_windows(rs, "restart") >= 6, 90, app)
    finally:
        drift.close()
        app.stop()
    marks = [r for r in rows if r["camera_id"] == "restart" and r["feature"] == "late_events"]
    # exactly-once: each window closed once, with every frame of it counted once
    assert sorted((r["window_start_ms"], r["sample_size"]) for r in marks) == [
        (w * window_ms, expected[w * window_ms]) for w in range(6)
    ]
    assert all(r["value"] == 0.0 for r in rows if r["feature"] == "late_events")


def _event(camera: str, ts: int, **stats: Any) -> dict[str, Any]:
    e = detection_event()
    e.update(camera_id=camera, capture_ts_ms=ts, frame_id=f"{camera}-{ts}", sequence=ts)
    e["image_stats"] = {**e["image_stats"], "dhash": ts, **stats}
    return e


def test_late_out_of_order_and_bad_events(settings: VigilSettings, tmp_path: Path) -> None:
    settings = settings.model_copy(
        update={"drift": DriftSettings(window_s=10, allowed_lateness_s=2, min_samples=1)}
    )
    h.make_topics(settings)
    late = [
        _event("late", ts) for ts in (1000, 5000, 10_500, 9000, 12_000, 3000, 8000, 25_000)
    ]  # 9000: out of order, within lateness; 12000 closes window 0; 3000, 8000: too late
    zeroed = {"brightness": 0.0, "contrast": 0.0, "sharpness": 0.0, "dhash": None}
    bad: list[dict[str, Any] | bytes] = [
        _event("bad", 1000),
        _event("bad", 2000, **zeroed),
        _event("bad", 3000, dhash=None),
        b"\xc3\x01 not a DetectionEvent",
        _event("bad", 4000, brightness=float("nan")),
        _event("bad", 25_000),
    ]
    h.produce(settings, [*late, *bad])
    app = h.DriftProcess(settings, tmp_path / "drift.log")
    drift = h.TopicReader(settings, Topic.DRIFT)
    dlq = h.TopicReader(settings, Topic.DLQ)
    try:
        app.start()
        rows = drift.until(
            lambda rs: h.closed_windows(rs, "late") >= 2 and h.closed_windows(rs, "bad") >= 1,
            90,
            app,
        )
        dead = dlq.until(lambda ms: len(ms) >= 1, 30, app)
        assert app.alive()
    finally:
        drift.close()
        dlq.close()
        app.stop()
    late_w = h.windows_of(rows, "late")
    assert late_w[0]["frames"] == 3  # 1000, 5000 and the out-of-order 9000
    assert late_w[0]["late"] == 0
    assert late_w[10_000]["frames"] == 2  # 10500, 12000
    assert late_w[10_000]["late"] == 2  # 3000 and 8000, reported with the next window
    bad_w = h.windows_of(rows, "bad")[0]
    assert bad_w["frames"] == 4
    missing = next(r for r in bad_w["rows"] if r["feature"] == "missing_image_stats")
    assert missing["value"] == pytest.approx(2 / 4)  # zeroed and NaN; dhash=None alone is fine
    envelope = read_envelope(dead[0])
    assert envelope["value"] == b"\xc3\x01 not a DetectionEvent"
    assert envelope["error_class"] == "SerdeError"
    assert envelope["component"] == "drift"
    assert envelope["source_topic"] == Topic.DETECTIONS.name_in(settings.topics)


def test_settings_reach_the_subprocess(settings: VigilSettings) -> None:
    """The environment the tests start the app with round-trips to the same settings."""
    import os

    from vigil_app.settings import load_settings

    s = h.drift_settings(settings, 125, consecutive=3)
    env = h.DriftProcess(s, Path("/dev/null")).env()
    old = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        loaded = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert loaded.drift == s.drift
    assert loaded.topics.prefix == s.topics.prefix
    assert str(uuid.UUID(int=0))  # keeps the import honest for mypy's unused check
