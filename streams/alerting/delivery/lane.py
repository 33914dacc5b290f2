"""A lane: one destination's consumer group on ``vigil.alerts``, its thread and its workers.

The lane thread owns the consumer and every piece of state; worker threads only take an alert
from ``_todo``, send it (with the target's retries) and put the result on ``_done``. An alert is
*finished* for the lane once the destination acknowledged it, the lane has no business with it
(below ``min_severity``, a repeated alert id, an undecodable record in a webhook lane), or it is
in ``vigil.dlq`` and the broker acknowledged that write. Offsets are committed per partition up
to the finished prefix (:mod:`.bookkeeping`).

Memory is bounded: at most ``max_in_flight`` alerts are being sent, at most ``backlog_max``
records wait for a free worker, and at most ``MAX_OPEN_OFFSETS`` offsets are tracked behind an
unfinished one. Past those bounds the lane pauses its partitions and keeps polling (so it stays
in its group); librdkafka drops what it had fetched for a paused partition and fetches again
from the lane's position on resume."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.alerting import metrics
from streams.alerting.delivery.bookkeeping import OffsetBook, RecentIds
from streams.alerting.delivery.groups import committed_offsets
from streams.alerting.delivery.targets import Abandoned, Delivered, Failed, Result, Target
from vigil import kafka
from vigil.dlq import H_DESTINATION, dead_letter
from vigil.settings import VigilSettings
from vigil.topics import Topic

log = logging.getLogger("streams.alerting.delivery")
COMPONENT = "alert-delivery"
POLL_S = 0.1
COMMIT_EVERY_S = 0.2
RECOMMIT_AFTER_S = 2.0  # an async commit not acknowledged by then is sent again
MAX_OPEN_OFFSETS = 10_000
KAFKA_TIMEOUT_S = 10.0


@dataclass(eq=False)
class Work:
    """One record on its way: the original message is kept for the DLQ."""

    message: Message
    alert: dict[str, Any] | None  # None: the record is not an Alert
    alert_id: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.message.partition() or 0, self.message.offset() or 0)


@dataclass
class LaneStats:
    """Counters for tests and logs (the same facts are Prometheus metrics)."""

    delivered: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # below min_severity, a repeated id, or undecodable in a webhook lane
    pauses: int = 0
    peak_in_flight: int = 0
    peak_backlog: int = 0
    revoked: int = 0


class Lane:
    """Delivers every alert to one target; ``seed_from`` names the group whose committed
    offsets a new group starts from (see the package docstring)."""

    def __init__(
        self,
        settings: VigilSettings,
        target: Target,
        group_id: str,
        *,
        seed_from: str | None = None,
        dead_letter_undecodable: bool = False,
    ) -> None:
        self.settings = settings
        self.target = target
        self.group_id = group_id
        self.seed_from = seed_from
        self.dead_letter_undecodable = dead_letter_undecodable
        self.topic = Topic.ALERTS.name_in(settings.topics)
        self.dlq_topic = Topic.DLQ.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.ALERTS)
        self.limit = target.max_in_flight
        self.backlog_max = max(16, 2 * target.max_in_flight)
        self.stats = LaneStats()
        self.seeded = threading.Event()  # the group has a starting point (or never needed one)
        self.ready = threading.Event()  # partitions were assigned at least once
        self.crashed = False
        self._stop = threading.Event()
        self._abandon = threading.Event()  # workers stop retrying
        self._drain_until = 0.0
        self._book = OffsetBook()
        self._ids = RecentIds()
        self._active: dict[tuple[int, int], Work] = {}  # being sent, or waiting for the DLQ
        self._backlog: deque[Message] = deque()
        self._owned: set[int] = set()
        self._in_flight = 0
        self._paused = False
        self._acked: dict[int, int] = {}
        self._requested: dict[int, tuple[int, float]] = {}
        self._last_commit = 0.0
        self._todo: queue.Queue[tuple[Work, dict[str, Any]] | None] = queue.Queue()
        self._done: queue.SimpleQueue[tuple[Work, Result]] = queue.SimpleQueue()
        self._producer: Producer | None = None
        self._thread = threading.Thread(target=self._run, name=f"lane {target.name}", daemon=True)

    # -- control (any thread) ----------------------------------------------------------------
    def start(self) -> Lane:
        self._thread.start()
        return self

    def stop(self, drain_until: float) -> None:
        """Stop taking alerts; posts on the wire may finish until ``drain_until`` (monotonic),
        retries are abandoned; then commit what finished and leave the group."""
        self._drain_until = drain_until
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the lane thread -----------------------------------------------------------------------
    def _run(self) -> None:
        consumer: Consumer | None = None
        workers = [
            threading.Thread(target=self._work, name=f"{self.target.name} #{i}", daemon=True)
            for i in range(self.limit)
        ]
        try:
            timeout_ms = int(self.settings.alerting.session_timeout_s * 1000)
            consumer = kafka.consumer(
                self.settings,
                self.group_id,
                **{
                    "session.timeout.ms": timeout_ms,
                    "heartbeat.interval.ms": timeout_ms // 4,
                    "queued.max.messages.kbytes": 1024,
                    "on_commit": self._on_commit,
                },
            )
            if self.seed_from is not None:
                self._seed(consumer, self.seed_from)
            self.seeded.set()
            for w in workers:
                w.start()
            consumer.subscribe(
                [self.topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )
            while not self._stop.is_set():
                self._step(consumer)
            self._drain(consumer)
        except Exception:  # the supervisor starts the lane again; nothing finished is lost
            self.crashed = True
            log.exception("%s: lane failed; its unfinished alerts stay uncommitted", self.group_id)
        finally:
            self.seeded.set()
            self._abandon.set()
            for _ in workers:
                self._todo.put(None)
            if consumer is not None:
                try:
                    consumer.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("%s: close: %s", self.group_id, exc)
            if self._producer is not None:
                self._producer.flush(KAFKA_TIMEOUT_S)
            metrics.DELIVERY_IN_FLIGHT.labels(self.target.name).set(0)
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(0)

    def _seed(self, consumer: Consumer, reference: str) -> None:
        """A group that has committed nothing starts where ``reference`` has committed (from
        the beginning where that has none), committed here before the first poll."""
        try:
            parts = [tp.partition for tp in kafka.end_offsets(consumer, self.topic)]
            if not parts:
                return
            ref = committed_offsets(self.settings, reference, self.topic, parts)  # read first
            tps = [TopicPartition(self.topic, p) for p in parts]
            own = consumer.committed(tps, timeout=KAFKA_TIMEOUT_S)
            if any(tp.offset >= 0 for tp in own):
                return
            start = []
            for tp in tps:
                offset = ref.get(tp.partition, -1)
                if offset < 0:
                    offset = consumer.get_watermark_offsets(tp, KAFKA_TIMEOUT_S)[0]
                start.append(TopicPartition(self.topic, tp.partition, offset))
            consumer.commit(offsets=start, asynchronous=False)
            log.info("%s: new group starts at %s", self.group_id, [tp.offset for tp in start])
        except KafkaException as exc:  # e.g. another process seeded it and joined first
            log.warning("%s: starting point not committed here (%s)", self.group_id, exc)

    def _step(self, consumer: Consumer) -> None:
        self._collect()
        if self._producer is not None:
            self._producer.poll(0)
        self._dispatch()
        self._flow(consumer)
        self._maybe_commit(consumer)
        if self._backlog or self._paused:  # waiting for a worker, not for Kafka
            self._wait_done(POLL_S)
            timeout = 0.0
        else:
            timeout = POLL_S
        room = max(1, self.backlog_max - len(self._backlog))
        for msg in consumer.consume(room, timeout):
            self._accept(msg)
        self._flow(consumer)  # a backlog filled up by this consume pauses at once

    def _accept(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: consumer: %s", self.group_id, err)
            return
        partition, offset = msg.partition() or 0, msg.offset() or 0
        if partition not in self._owned:
            return
        try:
            self._book.take(partition, offset)
        except ValueError as exc:  # fetched again after a resume: already ours
            log.debug("%s: %s", self.group_id, exc)
            return
        self._backlog.append(msg)
        self.stats.peak_backlog = max(self.stats.peak_backlog, len(self._backlog))

    def _dispatch(self) -> None:
        while self._backlog and self._in_flight < self.limit:
            self._begin(self._backlog.popleft())

    def _begin(self, msg: Message) -> None:
        try:
            alert = self.serde.decode(msg)
        except SerdeError as exc:
            if self.dead_letter_undecodable:
                self._to_dlq(Work(msg, None), exc)
            else:
                self.stats.skipped += 1
                self._finish(Work(msg, None))
            return
        work = Work(msg, alert, str(alert["alert_id"]))
        if work.alert_id in self._ids or not self.target.wants(alert):
            self.stats.skipped += 1
            self._finish(work)
            return
        self._ids.add(work.alert_id)
        self._active[work.key] = work
        self._in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
        metrics.DELIVERY_IN_FLIGHT.labels(self.target.name).set(self._in_flight)
        self._todo.put((work, alert))

    def _work(self) -> None:  # a worker thread
        while True:
            try:
                item = self._todo.get(timeout=1.0)
            except queue.Empty:
                if self._abandon.is_set():
                    return
                continue
            if item is None:
                return
            work, alert = item
            try:
                result = self.target.send(alert, self._abandon)
            except Exception as exc:  # a bug in a target must not lose the alert: DLQ it
                log.exception("%s: sending alert %s failed", self.target.name, work.alert_id)
                result = Failed(exc, 0)
            self._done.put((work, result))

    def _wait_done(self, timeout_s: float) -> None:
        try:
            work, result = self._done.get(timeout=timeout_s)
        except queue.Empty:
            return
        self._settle(work, result)
        self._collect()

    def _collect(self) -> None:
        while True:
            try:
                work, result = self._done.get_nowait()
            except queue.Empty:
                return
            self._settle(work, result)

    def _settle(self, work: Work, result: Result) -> None:
        self._in_flight -= 1
        metrics.DELIVERY_IN_FLIGHT.labels(self.target.name).set(self._in_flight)
        if self._active.get(work.key) is not work:
            return  # its partition was revoked meanwhile: the new owner sends it again
        if isinstance(result, Delivered):
            self.stats.delivered += 1
            metrics.DELIVERED.labels(self.target.name).inc()
            self._finish(work)
        elif isinstance(result, Failed):
            self._to_dlq(work, result.error)
        elif isinstance(result, Abandoned):  # stopping: stays open, so it is not committed
            del self._active[work.key]
            self._ids.discard(work.alert_id)

    def _to_dlq(self, work: Work, error: BaseException) -> None:
        if self._producer is None:
            self._producer = kafka.producer(self.settings)
        self._active[work.key] = work
        extra = [] if work.alert is None else [(H_DESTINATION, self.target.name.encode())]

        def acked(err: KafkaError | None, _msg: Message) -> None:
            self._dlq_acked(work, error, err)

        dead_letter(
            self._producer,
            self.dlq_topic,
            work.message,
            error,
            COMPONENT,
            extra=extra,
            on_delivery=acked,
        )

    def _dlq_acked(self, work: Work, error: BaseException, err: KafkaError | None) -> None:
        if self._active.get(work.key) is not work:
            return
        partition, offset = work.key
        if err is not None:
            log.warning(
                "%s: DLQ write of %d/%d failed (%s); again", self.group_id, partition, offset, err
            )
            self._to_dlq(work, error)
            return
        where = self.target.name if work.alert is not None else "decode"
        metrics.DELIVERY_DEAD_LETTERED.labels(where).inc()
        self.stats.dead_lettered += 1
        log.error(
            "%s: alert %s (partition %d offset %d) in vigil.dlq: %s: %s",
            where,
            work.alert_id or "?",
            partition,
            offset,
            type(error).__name__,
            error,
        )
        self._finish(work)

    def _finish(self, work: Work) -> None:
        self._active.pop(work.key, None)
        self._book.finish(*work.key)

    # -- flow control and commits --------------------------------------------------------------
    def _owned_tps(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in sorted(self._owned)]

    def _flow(self, consumer: Consumer) -> None:
        full = len(self._backlog) >= self.backlog_max or self._book.open >= MAX_OPEN_OFFSETS
        if full and not self._paused:
            consumer.pause(self._owned_tps())
            self._paused = True
            self.stats.pauses += 1
            metrics.DELIVERY_PAUSES.labels(self.target.name).inc()
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(1)
        elif self._paused and not full and len(self._backlog) <= self.backlog_max // 2:
            consumer.resume(self._owned_tps())
            self._paused = False
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(0)

    def _commit_points(self, consumer: Consumer, partitions: set[int]) -> dict[int, int]:
        positions = {p: -1 for p in partitions}
        idle = [TopicPartition(self.topic, p) for p in partitions if self._book.idle(p)]
        if idle:
            positions.update({tp.partition: tp.offset for tp in consumer.position(idle)})
        points = self._book.commit_points(positions)
        return {p: o for p, o in points.items() if o > self._acked.get(p, -1)}

    def _maybe_commit(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last_commit < COMMIT_EVERY_S:
            return
        self._last_commit = now
        todo = []
        for p, offset in self._commit_points(consumer, self._owned).items():
            last = self._requested.get(p)
            if last is not None and last[0] == offset and now - last[1] < RECOMMIT_AFTER_S:
                continue
            self._requested[p] = (offset, now)
            todo.append(TopicPartition(self.topic, p, offset))
        if todo:
            try:
                consumer.commit(offsets=todo, asynchronous=True)
            except KafkaException as exc:
                log.warning("%s: commit failed (%s); retried", self.group_id, exc)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if err is not None:
            log.warning("%s: commit failed (%s); retried", self.group_id, err)
            return
        for tp in partitions:
            if tp.error is None and tp.partition in self._owned:
                self._acked[tp.partition] = max(self._acked.get(tp.partition, -1), tp.offset)

    def _commit_now(self, consumer: Consumer, partitions: set[int]) -> None:
        points = self._commit_points(consumer, partitions)
        if not points:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in points.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            log.warning("%s: final commit failed (%s); the next owner re-sends", self.group_id, exc)
            return
        self._acked.update(points)

    # -- rebalances and stopping ---------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        for tp in partitions:
            self._owned.add(tp.partition)
            self._acked.pop(tp.partition, None)
            self._requested.pop(tp.partition, None)
        if self._paused:
            consumer.pause(partitions)
        log.info("%s: assigned %s", self.group_id, [tp.partition for tp in partitions])
        self.ready.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        if self._producer is not None and any(k[0] in gone for k in self._active):
            self._producer.flush(KAFKA_TIMEOUT_S)  # DLQ writes acknowledged finish alerts
        self._collect()
        self._commit_now(consumer, gone & self._owned)
        self._forget(gone)
        log.info("%s: revoked %s", self.group_id, sorted(gone))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        self._forget(gone)
        log.warning(
            "%s: lost %s; their unfinished alerts go to the new owner", self.group_id, sorted(gone)
        )

    def _forget(self, gone: set[int]) -> None:
        self.stats.revoked += len(gone & self._owned)
        self._book.forget(gone)
        for key, work in list(self._active.items()):
            if key[0] in gone:
                del self._active[key]
                self._ids.discard(work.alert_id)
        self._backlog = deque(m for m in self._backlog if m.partition() not in gone)
        self._owned -= gone
        for p in gone:
            self._acked.pop(p, None)
            self._requested.pop(p, None)

    def _drain(self, consumer: Consumer) -> None:
        """Bounded: finish what is on the wire, abandon the rest, commit what finished."""
        self._abandon.set()
        waiting = len(self._backlog)
        self._backlog.clear()  # not started: stays uncommitted, sent after a restart
        if self._owned:
            consumer.pause(self._owned_tps())
            self._paused = True
        while self._in_flight > 0 and time.monotonic() < self._drain_until:
            self._wait_done(min(POLL_S, max(0.0, self._drain_until - time.monotonic())))
            for msg in consumer.consume(1, 0):
                self._accept(msg)  # taken (so never committed past), not sent
            self._backlog.clear()
            if self._producer is not None:
                self._producer.poll(0)
        if self._producer is not None:
            self._producer.flush(max(0.5, self._drain_until - time.monotonic()))
        self._collect()
        self._commit_now(consumer, set(self._owned))
        log.info(
            "%s: stopped (%d still in flight abandoned, %d not started)",
            self.group_id,
            self._in_flight,
            waiting,
        )
