"""Exactly-once through the drift app, real broker, the app as a real process: SIGKILLed three
times, each time right after it sent a window's statistics and before they committed, every
window's ``DriftStat`` records appear once on ``vigil.drift``, with the values of an
uninterrupted run (the same engine, in this process, over the same events)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.contracts import serde_for
from streams.drift.engine import DriftEngine
from streams.drift.samples import FramePool, stream
from tests.streams.drift import helpers as h
from tests.streams.probe import Uncommitted
from vigil.testing import read_to_end, user_cache_dir
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

CAMERAS = ("eo-a", "eo-b")
LOOPS = 9  # windows per camera; loops 5-8 are darkened, so drift alarms are raised too


@pytest.fixture(scope="module")
def frame_pool() -> FramePool:
    return h.pool(user_cache_dir())


def row_key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["camera_id"],
        r["model_version"],
        r["window_start_ms"],
        r["feature"],
        r["statistic"],
        r["value"],
        r["threshold"],
        r["alarm"],
        r["sample_size"],
    )


def uninterrupted(settings: VigilSettings, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    engine = DriftEngine(settings.drift, {})
    rows = []
    for offset, e in enumerate(events):  # one key per camera: offsets need only increase
        for window in engine.process(e, offset):
            rows += [row_key(r) for r in window.stats]
    return sorted(rows)


def closes(window_ms: int, k: int) -> Callable[[dict[str, Any]], bool]:
    """True for a record of the k-th window of any camera."""
    return lambda r: r["window_start_ms"] == k * window_ms


@pytest.mark.timeout(600)
def test_three_sigkills_each_window_once_with_the_values_of_an_uninterrupted_run(
    settings: VigilSettings, frame_pool: FramePool, tmp_path: Path
) -> None:
    settings = h.drift_settings(
        settings, len(frame_pool), commit_interval_s=3.0, transaction_timeout_s=10.0
    )
    window_ms = len(frame_pool) * h.FRAME_MS
    h.make_topics(settings)

    def dark(loop: int) -> str:
        return "dark" if loop >= 5 else "none"

    per_camera = [list(stream(frame_pool, c, LOOPS, seed=5, shift=dark)) for c in CAMERAS]
    events = sorted((e for evs in per_camera for e in evs), key=lambda e: e["capture_ts_ms"])
    want = uninterrupted(settings, events)
    assert any(r[7] for r in want), "the darkened windows should alarm"
    cut = [
        sum(e["capture_ts_ms"] < (k * window_ms + window_ms // 2) for e in events)
        for k in (2, 4, 6)
    ]
    app = h.DriftProcess(settings, tmp_path / "drift.log")
    probe = Uncommitted(settings, Topic.DRIFT)
    try:
        h.produce(settings, events[: cut[0]])
        app.start()
        for k, (start, end) in enumerate(zip(cut, [*cut[1:], len(events)], strict=True)):
            probe.wait_for(closes(window_ms, 2 * k + 1), 120, app.alive)
            app.kill()  # window 2k+1 was sent; its checkpoint (3 s) has not committed
            h.produce(settings, events[start:end])
            app.start()
        topic = Topic.DRIFT.name_in(settings.topics)
        serde = serde_for(settings, Topic.DRIFT)

        def complete(msgs: list[Any]) -> bool:
            return len(msgs) >= len(want) or not app.alive()

        got = sorted(row_key(serde.decode(m)) for m in read_to_end(settings, topic, complete, 180))
    finally:
        probe.close()
        app.stop()
    assert app.proc is not None
    assert app.proc.returncode == 0  # SIGTERM: a clean stop
    assert got == want  # every window once, nothing missing, the same values
