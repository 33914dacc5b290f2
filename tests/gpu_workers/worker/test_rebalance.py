"""A second worker joins and leaves mid-stream (cooperative-sticky): partitions move both
ways and every frame is still detected exactly once."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.gpu_workers.worker.conftest import worker_settings
from vigil.testing import Collector, bikes_jpegs, frame_event, produce_frames, provision
from vigil_app.settings import VigilSettings

FRAMES = 2000


def test_second_worker_joins_and_leaves_exactly_once(
    settings: VigilSettings, tiny_model: str, run_worker: Any
) -> None:
    s = worker_settings(
        settings,
        tiny_model,
        partitions=4,
        max_wait_ms=5,
    )
    provision(s)
    jpegs = bikes_jpegs(40, (64, 48), step=6)
    events = [frame_event(f"cam{i % 8}", i // 8, jpegs[i % 40]) for i in range(FRAMES)]

    def feed() -> None:
        for start in range(0, FRAMES, 100):
            produce_frames(s, events[start : start + 100])
            time.sleep(0.2)

    collector = Collector(s)
    first, _ = run_worker(s, "r0")
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    assert collector.wait_for(FRAMES // 4, 90)
    second, second_thread = run_worker(s, "r1")
    assert collector.wait_for(FRAMES * 6 // 10, 90)
    second.stop()  # leaves the group: its partitions go back to the first worker
    second_thread.join(60)
    feeder.join(120)
    assert collector.wait_for(FRAMES, 120)
    collector.stop()
    expected = {e["frame_id"] for e in events}
    duplicated = {k: v for k, v in collector.counts.items() if v > 1}
    assert set(collector.counts) == expected
    assert duplicated == {}
    assert second.committed_frames > 0  # it really took partitions
    assert first.revoked > 0  # ... from the first worker, which got them back
