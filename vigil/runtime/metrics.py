"""The metrics the consumer loop keeps, under the names of the component that runs it (the
dashboards and alert rules know ``vigil_worker_consumer_lag``, not a generic name)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerMetrics:
    """The loop's metrics. Several loops of one kind in a process (alert delivery runs one per
    destination) tell their series apart by leading labels: ``named(prefix, per=(...))``, then
    each loop gets ``bound(values)``."""

    messages: Counter  # labels: *per, topic
    lag: Gauge  # labels: *per, topic, partition
    paused: Gauge  # labels: *per
    rebalances: Counter  # labels: *per, kind (assigned | revoked | lost)
    fixed: tuple[str, ...] = ()  # the values of the leading labels

    @classmethod
    def named(cls, prefix: str, per: tuple[str, ...] = ()) -> ConsumerMetrics:
        """``<prefix>_messages_total``, ``_consumer_lag``, ``_paused_partitions`` and
        ``_rebalances_total``; create once per process (module level), as every metric."""
        return cls(
            messages=Counter(f"{prefix}_messages_total", "Messages consumed", [*per, "topic"]),
            lag=Gauge(
                f"{prefix}_consumer_lag",
                "High watermark minus position",
                [*per, "topic", "partition"],
            ),
            paused=Gauge(f"{prefix}_paused_partitions", "Partitions paused for backpressure", per),
            rebalances=Counter(f"{prefix}_rebalances_total", "Partition changes", [*per, "kind"]),
        )

    def bound(self, *values: str) -> ConsumerMetrics:
        """These metrics with the leading labels set to ``values`` (one loop's series)."""
        return dataclasses.replace(self, fixed=values)

    def consumed(self, topic: str, count: int = 1) -> None:
        self.messages.labels(*self.fixed, topic).inc(count)

    def set_paused(self, partitions: int) -> None:
        (self.paused.labels(*self.fixed) if self.fixed else self.paused).set(partitions)

    def rebalanced(self, kind: str, partitions: int) -> None:
        self.rebalances.labels(*self.fixed, kind).inc(partitions)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        self.lag.labels(*self.fixed, topic, str(partition)).set(lag)

    def forget_lag(self, topic: str, partition: int) -> None:
        with contextlib.suppress(KeyError):  # never reported: no series to remove
            self.lag.remove(*self.fixed, topic, str(partition))


class LagReporter:
    """Each assigned partition's lag, every ``every_s`` at most (watermarks from the fetch
    responses: no broker round trip); a partition that leaves loses its series."""

    def __init__(self, metrics: ConsumerMetrics, every_s: float = 2.0) -> None:
        self.metrics = metrics
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
                    self.metrics.set_lag(tp.topic, tp.partition, high - tp.offset)
        except KafkaException as exc:
            log.debug("lag metric: %s", exc)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.metrics.forget_lag(tp.topic, tp.partition)
