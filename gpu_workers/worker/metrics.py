"""The worker's Prometheus metrics (module level, one registry per process). The consumer
runtime keeps ``CONSUMER`` (messages, lag, paused partitions, rebalances) under the worker's
names."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from vigil.runtime import ConsumerMetrics

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FRAMES = Counter("vigil_worker_frames_total", "Frames handled", ["outcome"])  # detected | dlq
FRAMES_PER_S = Gauge("vigil_worker_frames_per_second", "Frames committed per second (last 5 s)")
BATCH_SIZE = Histogram(
    "vigil_worker_batch_size", "Frames per inference batch", buckets=(1, 2, 4, 8, 16, 32, 64)
)
STAGE_SECONDS = Histogram(
    "vigil_worker_stage_seconds", "Time per batch in each stage", ["stage"], buckets=_LATENCY
)  # decode (wait for the pool) | motion (the gate's measure) | infer | postprocess | commit
FRAME_WAIT = Histogram(
    "vigil_worker_frame_wait_seconds",
    "Time per frame before the models",
    ["stage"],
    buckets=_LATENCY,
)  # queue (capture -> consumed by the worker) | batch (consumed -> its batch taken)
END_TO_END = Histogram(
    "vigil_worker_end_to_end_seconds",
    "Capture time to detection committed",
    buckets=(*_LATENCY, 30.0, 60.0),
)
DLQ = Counter("vigil_worker_dlq_total", "Frames sent to the DLQ", ["reason"])
# frames of gated source kinds only (live cameras: ids bounded by the sources' config; uploads,
# whose camera ids may be many, are never gated and never counted here); counted when decided,
# so an aborted transaction's frames count again when they are re-read
MOTION_FRAMES = Counter(
    "vigil_worker_motion_frames_total",
    "Frames of gated cameras run through the models or carried by the motion gate",
    ["camera", "outcome"],
)  # inferred | carried
# hot swaps of the production detector (``swap``): switched in, or refused (the old one runs on)
SWAPS = Counter("vigil_worker_model_swaps_total", "Production model changes", ["outcome"])
TRANSACTIONS = Counter("vigil_worker_transactions_total", "Transactions", ["outcome"])
# vigil_worker_messages_total, _consumer_lag, _paused_partitions, _rebalances_total
CONSUMER = ConsumerMetrics.named("vigil_worker")


class Progress:
    """Frames committed per second, every 2 s at most."""

    def __init__(self) -> None:
        self._mark = (time.monotonic(), 0)
        self._at = 0.0

    def report(self, committed_frames: int) -> None:
        now = time.monotonic()
        if now - self._at < 2.0:
            return
        self._at = now
        mark_t, mark_n = self._mark
        FRAMES_PER_S.set((committed_frames - mark_n) / max(1e-6, now - mark_t))
        self._mark = (now, committed_frames)
