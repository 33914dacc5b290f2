"""The metrics the consumer loop keeps, under the names of the component that runs it (the
dashboards and alert rules know ``vigil_worker_consumer_lag``, not a generic name)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerMetrics:
    messages: Counter  # labels: topic
    lag: Gauge  # labels: topic, partition
    paused: Gauge
    rebalances: Counter  # labels: kind (assigned | revoked | lost)

    @classmethod
    def named(cls, prefix: str) -> ConsumerMetrics:
        """``<prefix>_messages_total``, ``_consumer_lag``, ``_paused_partitions`` and
        ``_rebalances_total``; create once per process (module level), as every metric."""
        return cls(
            messages=Counter(f"{prefix}_messages_total", "Messages consumed", ["topic"]),
            lag=Gauge(
                f"{prefix}_consumer_lag", "High watermark minus position", ["topic", "partition"]
            ),
            paused=Gauge(f"{prefix}_paused_partitions", "Partitions paused for backpressure"),
            rebalances=Counter(f"{prefix}_rebalances_total", "Partition changes", ["kind"]),
        )


class LagReporter:
    """Each assigned partition's lag, every ``every_s`` at most (watermarks from the fetch
    responses: no broker round trip); a partition that leaves loses its series."""

    def __init__(self, gauge: Gauge, every_s: float = 2.0) -> None:
        self.gauge = gauge
        self.every_s = every_s
        self._at = 0.0

    def report(self, consumer: Consumer, assigned: Iterable[TopicPartition]) -> None:
        now = time.monotonic()
        parts = list(assigned)
        if now - self._at < self.every_s or not parts:
            return
        self._at = now
        try:
            for tp in consumer.position(parts):
                _low, high = consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
                if high >= 0 and tp.offset >= 0:
                    self.gauge.labels(tp.topic, str(tp.partition)).set(high - tp.offset)
        except KafkaException as exc:
            log.debug("lag metric: %s", exc)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            with contextlib.suppress(KeyError):  # never reported: no series to remove
                self.gauge.remove(tp.topic, str(tp.partition))
