"""One consumer, one processor, one thread: the loop polls, hands records to the processor,
runs its rebalance hooks, pauses intake under backpressure and leaves in bounded time.

Pause state is the loop's alone. librdkafka keeps an application pause on a partition across
its revocation and re-assignment (it resets only its own pause when a partition is removed), so
a partition paused when it was taken away would come back paused for good and stall, silently;
the loop therefore sets every newly assigned partition's state explicitly: paused while
backpressure holds, resumed otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from vigil import kafka
from vigil.runtime.metrics import ConsumerMetrics, LagReporter
from vigil.runtime.processor import Backpressure, Processor

log = logging.getLogger(__name__)
Key = tuple[str, int]


def _key(tp: TopicPartition) -> Key:
    return (tp.topic, tp.partition)


class ConsumerLoop:
    """Runs a :class:`Processor` on ``consumer`` until :meth:`stop`.

    ``max_wait_s`` caps every poll, so a stop is seen within it (plus one step);
    ``drain_timeout_s`` bounds the processor's :meth:`Processor.drain` on stop. ``eager``: a
    poll returns as soon as its first record arrives, with whatever else is already fetched
    (up to the limit), for a consumer bound by latency rather than batch size.
    """

    def __init__(
        self,
        consumer: Consumer,
        metrics: ConsumerMetrics,
        *,
        stop: threading.Event | None = None,
        max_wait_s: float = 0.1,
        drain_timeout_s: float = 30.0,
        eager: bool = False,
    ) -> None:
        self.consumer = consumer
        self.metrics = metrics
        self.stop_event = stop or threading.Event()
        self.max_wait_s = max_wait_s
        self.drain_timeout_s = drain_timeout_s
        self.eager = eager
        self.pauses = 0  # times backpressure began
        self._processor: Processor | None = None
        self._assigned: dict[Key, TopicPartition] = {}
        self._held: set[Key] = set()  # paused by the processor's choice, not backpressure
        self._paused = False
        self._retry_at: float | None = None
        self._lag = LagReporter(metrics)
        self._closed = False

    # -- what to consume ----------------------------------------------------------------------

    def subscribe(self, topics: list[str]) -> None:
        """Join the consumer's group on ``topics``; partitions come through the hooks."""
        self.consumer.subscribe(
            topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def assign(self, partitions: list[TopicPartition]) -> None:
        """Consume exactly ``partitions`` from their offsets (no group rebalancing)."""
        self.consumer.assign(partitions)
        self._assigned = {_key(tp): TopicPartition(tp.topic, tp.partition) for tp in partitions}

    @property
    def assignment(self) -> list[TopicPartition]:
        return list(self._assigned.values())

    @property
    def paused(self) -> bool:
        """Whether backpressure holds the partitions now."""
        return self._paused

    # -- running ------------------------------------------------------------------------------

    def run(self, processor: Processor, after_poll: Callable[[], None] | None = None) -> None:
        """Poll until :meth:`stop`, then let the processor drain (bounded). The consumer stays
        open: :meth:`close` leaves the group, after the caller has settled its own work."""
        self._processor = processor
        while not self.stop_event.is_set():
            self.poll()
            if after_poll is not None:
                after_poll()
        processor.drain(time.monotonic() + self.drain_timeout_s)

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        """Leave the group (revoke hooks run now) and close the consumer; once."""
        if self._closed:
            return
        self._closed = True
        self.consumer.close()

    def poll(self) -> None:
        """One poll: records to the processor, then its step, then the lag metric."""
        processor = self._need_processor()
        limit, wait = processor.poll_limits()
        wait = max(0.0, min(wait, self.max_wait_s))
        if self.eager:  # consume(n, t) waits for all n or t: take the first, then what is here
            messages = self.consumer.consume(1, wait)
            if messages and limit > 1:
                messages += self.consumer.consume(limit - 1, 0)
        else:
            messages = self.consumer.consume(max(1, limit), wait)
        # counted once per poll and topic: a labelled inc() per record cost the sink as much
        # as mapping the record to rows
        counts: dict[str, int] = {}
        try:
            for message in messages:
                error = message.error()
                if error is None:
                    topic = message.topic() or ""
                    counts[topic] = counts.get(topic, 0) + 1
                    processor.process(message)
                elif error.fatal():
                    raise KafkaException(error)
                elif error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", error)
        finally:
            for topic, count in counts.items():
                self.metrics.consumed(topic, count)
        self._step(processor)
        self._lag.report(self.consumer, self.assignment)

    def _step(self, processor: Processor) -> None:
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            return
        try:
            processor.step()
        except Backpressure as exc:
            self._retry_at = time.monotonic() + max(0.0, exc.retry_after)
            self._pause(exc)
            return
        self._retry_at = None
        if self._paused:
            self._resume()

    def _need_processor(self) -> Processor:
        if self._processor is None:
            raise RuntimeError("the consumer loop is not running a processor")
        return self._processor

    # -- pause and resume ---------------------------------------------------------------------

    def _pause(self, why: Backpressure) -> None:
        if self._paused:
            return
        self._paused = True
        self.pauses += 1
        parts = self.assignment
        if parts:
            self.consumer.pause(parts)
        self.metrics.set_paused(len(parts))
        log.debug("backpressure (%s): paused %d partitions", why, len(parts))

    def _resume(self) -> None:
        self._paused = False
        parts = [tp for key, tp in self._assigned.items() if key not in self._held]
        if parts:
            self.consumer.resume(parts)
        self.metrics.set_paused(0)
        log.debug("backpressure over: resumed %d partitions", len(parts))

    def hold(self, partitions: Iterable[TopicPartition]) -> None:
        """Pause ``partitions`` until they are revoked, whatever backpressure does (a replay
        holds a partition that reached its planned end)."""
        parts = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        new = [tp for tp in parts if _key(tp) not in self._held]
        if new:
            self._held.update(_key(tp) for tp in new)
            self.consumer.pause(new)

    def rewind(self) -> None:
        """Seek every assigned partition back to its committed offset (the beginning where
        nothing is committed): what an aborted transaction held is read again."""
        assigned = self.consumer.assignment()
        if not assigned:
            return
        for tp in kafka.committed(self.consumer, assigned):
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- rebalance callbacks (run inside consume() or close(), on the loop's thread) ----------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalanced("assigned", len(partitions))
        starts = self._processor.on_assign(partitions) if self._processor else None
        chosen = partitions if starts is None else starts
        consumer.incremental_assign(chosen)
        fresh = [TopicPartition(tp.topic, tp.partition) for tp in chosen]
        self._assigned.update((_key(tp), tp) for tp in fresh)
        if fresh and self._paused:
            consumer.pause(fresh)
            self.metrics.set_paused(len(self._assigned))
        elif fresh:
            consumer.resume(fresh)  # clears a pause left from an earlier assignment
        log.info("assigned %s", sorted(_key(tp) for tp in chosen))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalanced("revoked", len(partitions))
        try:
            if self._processor is not None:
                self._processor.on_revoke(partitions)
        finally:
            self._forget(partitions)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalanced("lost", len(partitions))
        try:
            if self._processor is not None:
                self._processor.on_lost(partitions)
        finally:
            self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._assigned.pop(_key(tp), None)
            self._held.discard(_key(tp))
        self._lag.forget(partitions)
        if self._paused:
            self.metrics.set_paused(len(self._assigned))
