"""Frames arrive much faster than the real detector runs: the worker pauses its partitions
(still polling), is never evicted, keeps its memory bounded and catches up."""

from __future__ import annotations

import threading
from typing import Any

import psutil

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections
from vigil.testing import bikes_jpegs, frame_event, produce_frames, provision
from vigil_app.settings import VigilSettings

FRAMES = 600
# Over the warmed-up worker: prefetch (1 MiB queued, 8 MiB per fetch) + at most 48 queued
# frames (0.5 MiB decoded each) + allocator slack. Unbounded intake would hold all 600
# decoded frames (~300 MiB) on top.
RSS_GROWTH_BOUND_MIB = 256


def test_overload_pauses_without_eviction_and_catches_up(
    settings: VigilSettings, run_worker: Any
) -> None:
    s = worker_settings(
        settings,
        "ssd_mobilenet_v2_coco",
        max_pending_frames=16,
        queued_max_kbytes=1024,
        max_wait_ms=20,
    )
    provision(s)
    process = psutil.Process()
    worker, _ = run_worker(s)
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.1):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    jpegs = bikes_jpegs(25, (640, 272), step=9)  # bikes.mp4's own size
    produce_frames(s, [frame_event(f"cam{i % 4}", i // 4, jpegs[i % 25]) for i in range(FRAMES)])
    out = detections(s, FRAMES, timeout_s=170)
    done.set()
    sampler.join(5)
    assert len({d["frame_id"] for d in out}) == FRAMES == len(out)  # caught up, exactly once
    assert worker.pauses >= 1  # it did fall behind and paused
    assert worker.revoked == 0  # never evicted: no partition was revoked or lost
    assert worker.max_queued <= 16 + 4 * 8  # a pause stops intake within one poll
    growth = (peak - baseline) / 2**20
    assert growth < RSS_GROWTH_BOUND_MIB, f"resident memory grew {growth:.0f} MiB"
