"""Modelled on Kafka's TransactionsTest: thousands of frames flow while ``vigil worker`` is
SIGKILLed three times and restarted; a read_committed reader then sees every frame id exactly
once (0 missing, 0 duplicated)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.processes import start_worker
from vigil.testing import Collector, bikes_jpegs, frame_event, produce_frames, provision
from vigil_app.settings import VigilSettings

FRAMES = 3000
CAMERAS = 6


def test_sigkill_three_times_exactly_once(
    settings: VigilSettings, tiny_model: str, tmp_path: Path
) -> None:
    s = worker_settings(
        settings,
        tiny_model,
        partitions=3,
        max_wait_ms=5,
    )
    provision(s)
    jpegs = bikes_jpegs(50, (64, 48), step=5)
    events = [
        frame_event(f"cam{i % CAMERAS}", i // CAMERAS, jpegs[i % len(jpegs)]) for i in range(FRAMES)
    ]

    def feed() -> None:  # frames keep flowing during the kills
        for start in range(0, FRAMES, 100):
            produce_frames(s, events[start : start + 100])
            time.sleep(0.15)

    feeder = threading.Thread(target=feed, daemon=True)
    collector = Collector(s)
    log = tmp_path / "worker.log"
    proc = start_worker(s, "k0", log)
    feeder.start()
    kills = 0
    try:
        for fraction in (0.2, 0.45, 0.7):
            assert collector.wait_for(int(FRAMES * fraction), 120), log.read_text()[-3000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kills += 1
            proc = start_worker(s, "k0", log)  # same instance: its open transaction is aborted
        feeder.join(120)
        assert collector.wait_for(FRAMES, 150), log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        collector.stop()
    assert kills == 3
    assert_exactly_once(collector, {e["frame_id"] for e in events})
    assert proc.returncode == 0  # SIGTERM: finished its batch and left cleanly


def test_sigkill_inside_a_background_commit_exactly_once(
    settings: VigilSettings, tiny_model: str, tmp_path: Path
) -> None:
    """Killed with its third transaction's offsets sent and the commit not done, while the
    next batch is inferred beside it: the restarted instance aborts that transaction, and
    every frame is still seen once."""
    s = worker_settings(settings, tiny_model)
    provision(s)
    jpegs = bikes_jpegs(20, (64, 48), step=5)
    events = [frame_event(f"cam{i % 3}", i // 3, jpegs[i % len(jpegs)]) for i in range(300)]
    produce_frames(s, events)
    collector = Collector(s)
    log = tmp_path / "worker.log"
    proc = start_worker(s, "c0", log, VIGIL_FAULTS="worker_commit:3")
    try:
        assert proc.wait(120) == -signal.SIGKILL, log.read_text()[-3000:]
        assert "SIGKILL at worker_commit #3" in log.read_text()
        assert collector.wait_for(1, 30)  # two transactions committed, not the third
        assert collector.total < len(events)
        proc = start_worker(s, "c0", log)
        assert collector.wait_for(len(events), 120), log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        collector.stop()
    assert_exactly_once(collector, {e["frame_id"] for e in events})


def assert_exactly_once(collector: Collector, expected: set[str]) -> None:
    missing = expected - set(collector.counts)
    duplicated = {k: v for k, v in collector.counts.items() if v > 1}
    assert (len(missing), len(duplicated)) == (0, 0), (sorted(missing)[:10], duplicated)
    assert set(collector.counts) == expected
