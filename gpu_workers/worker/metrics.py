"""The worker's Prometheus metrics (module level, one registry per process)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException
from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger(__name__)

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

FRAMES = Counter("vigil_worker_frames_total", "Frames handled", ["outcome"])  # detected | dlq
FRAMES_PER_S = Gauge("vigil_worker_frames_per_second", "Frames committed per second (last 5 s)")
BATCH_SIZE = Histogram(
    "vigil_worker_batch_size", "Frames per inference batch", buckets=(1, 2, 4, 8, 16, 32, 64)
)
STAGE_SECONDS = Histogram(
    "vigil_worker_stage_seconds", "Time per batch in each stage", ["stage"], buckets=_LATENCY
)  # decode (wait for the pool) | infer | postprocess | commit
END_TO_END = Histogram(
    "vigil_worker_end_to_end_seconds",
    "Capture time to detection committed",
    buckets=(*_LATENCY, 30.0, 60.0),
)
DLQ = Counter("vigil_worker_dlq_total", "Frames sent to the DLQ", ["reason"])
PAUSED = Gauge("vigil_worker_paused_partitions", "Partitions paused by backpressure")
LAG = Gauge("vigil_worker_consumer_lag", "High watermark minus position", ["partition"])
TRANSACTIONS = Counter("vigil_worker_transactions_total", "Transactions", ["outcome"])
REBALANCES = Counter("vigil_worker_rebalances_total", "Partition changes", ["kind"])


class Progress:
    """Every 2 s at most: frames committed per second, and each assigned partition's lag."""

    def __init__(self) -> None:
        self._mark = (time.monotonic(), 0)
        self._at = 0.0

    def report(self, consumer: Consumer, committed_frames: int) -> None:
        now = time.monotonic()
        if now - self._at < 2.0:
            return
        self._at = now
        mark_t, mark_n = self._mark
        FRAMES_PER_S.set((committed_frames - mark_n) / max(1e-6, now - mark_t))
        self._mark = (now, committed_frames)
        try:
            assigned = consumer.assignment()
            for tp in consumer.position(assigned) if assigned else []:
                _low, high = consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
                if high >= 0 and tp.offset >= 0:
                    LAG.labels(str(tp.partition)).set(high - tp.offset)
        except KafkaException as exc:
            log.debug("lag metric: %s", exc)
