"""A lane: one destination's consumer group on ``vigil.alerts``, its thread and its workers.

The lane is a :class:`~vigil.runtime.Processor`: the consumer runtime (``vigil.runtime``) owns
polling, rebalances, pause/resume and shutdown on the lane's thread; the lane says what it does
with an alert and on a rebalance. That thread owns every piece of state; worker threads
(:mod:`.workers`) only send an alert (with the target's retries) and hand the result back.
An alert is *finished* for the lane once the destination acknowledged it, the lane has no
business with it (below ``min_severity``, a repeated alert id, an undecodable record in a
webhook lane), or it is in ``vigil.dlq`` and the broker acknowledged that write. Offsets are
committed per partition up to the finished prefix (:mod:`.bookkeeping`).

Memory is bounded: at most ``max_in_flight`` alerts are being sent, at most ``backlog_max``
records wait for a free worker, and at most ``MAX_OPEN_OFFSETS`` offsets are tracked behind an
unfinished one. Past those bounds the lane raises :class:`~vigil.runtime.Backpressure`: the
loop pauses its partitions and keeps polling (so it stays in its group); librdkafka drops what
it had fetched for a paused partition and fetches again from the lane's position on resume."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.alerting import metrics
from streams.alerting.delivery.bookkeeping import OffsetBook, RecentIds
from streams.alerting.delivery.commits import Committer
from streams.alerting.delivery.dead_letters import COMPONENT, DeadLetters, Work
from streams.alerting.delivery.groups import seed_group
from streams.alerting.delivery.targets import Abandoned, Delivered, Failed, Result, Target
from streams.alerting.delivery.workers import Workers
from streams.alerting.settings import AlertingProcessSettings
from vigil import kafka
from vigil.runtime import Backpressure, ConsumerLoop, Processor
from vigil.topics import Topic

log = logging.getLogger("streams.alerting.delivery")
__all__ = ["COMPONENT", "Lane", "LaneStats"]
POLL_S = 0.1
MAX_OPEN_OFFSETS = 10_000
KAFKA_TIMEOUT_S = 10.0


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


class Lane(Processor):
    """Delivers every alert to one target; ``seed_from`` names the group whose committed
    offsets a new group starts from (see the package docstring)."""

    def __init__(
        self,
        settings: AlertingProcessSettings,
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
        self.serde = serde_for(settings, Topic.ALERTS)
        self.limit = target.max_in_flight
        self.backlog_max = max(16, 2 * target.max_in_flight)
        self.stats = LaneStats()
        self.seeded = threading.Event()  # the group has a starting point (or never needed one)
        self.ready = threading.Event()  # partitions were assigned at least once
        self.crashed = False
        self._stop = threading.Event()
        self._drain_until = 0.0
        self._book = OffsetBook()
        self._ids = RecentIds()
        self._active: dict[tuple[int, int], Work] = {}  # being sent, or waiting for the DLQ
        self._backlog: deque[Message] = deque()
        self._commits = Committer(self.topic, group_id, self._book)
        self._dlq = DeadLetters(
            settings, target.name, self._dead_lettered, lambda w: self._active.get(w.key) is w
        )
        self._owned_now: frozenset[int] = frozenset()  # for other threads to read
        self._in_flight = 0
        self._holding = False  # raising Backpressure: the loop keeps the partitions paused
        self._workers = Workers(target, self.limit)
        self._loop: ConsumerLoop | None = None
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

    @property
    def owned(self) -> frozenset[int]:
        """The partitions of ``vigil.alerts`` this lane holds now."""
        return self._owned_now

    # -- the lane thread -----------------------------------------------------------------------
    def _run(self) -> None:
        consumer: Consumer | None = None
        try:
            timeout_ms = int(self.settings.alerting.session_timeout_s * 1000)
            consumer = kafka.consumer(
                self.settings,
                self.group_id,
                **{
                    "session.timeout.ms": timeout_ms,
                    "heartbeat.interval.ms": timeout_ms // 4,
                    "queued.max.messages.kbytes": 1024,
                    "on_commit": self._commits.on_commit,
                },
            )
            if self.seed_from is not None:
                self._seed(consumer, self.seed_from)
            self.seeded.set()  # before any poll: the reference lane may move on now
            self._workers.start()
            # the drain keeps to the stop's own deadline (``drain_until``), not the loop's
            self._loop = ConsumerLoop(
                consumer,
                metrics.DELIVERY_CONSUMER.bound(self.target.name),
                stop=self._stop,
                max_wait_s=POLL_S,
                drain_timeout_s=3600.0,
                eager=True,  # an alert never waits for a fuller poll
            )
            self._loop.subscribe([self.topic])
            self._loop.run(self)
        except Exception:  # the supervisor starts the lane again; nothing finished is lost
            self.crashed = True
            log.exception("%s: lane failed; its unfinished alerts stay uncommitted", self.group_id)
        finally:
            self.seeded.set()
            self._workers.stop()
            if consumer is not None:
                try:  # leaving the group runs on_revoke: what finished is committed
                    if self._loop is not None:
                        self._loop.close()
                    else:
                        consumer.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("%s: close: %s", self.group_id, exc)
            self._dlq.flush(KAFKA_TIMEOUT_S)
            self.target.close()  # a post still on the wire fails now; its result is ignored
            metrics.DELIVERY_IN_FLIGHT.labels(self.target.name).set(0)
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(0)
            metrics.DELIVERY_CONSUMER.bound(self.target.name).set_paused(0)

    def _seed(self, consumer: Consumer, reference: str) -> None:
        try:
            start = seed_group(self.settings, consumer, self.topic, reference, KAFKA_TIMEOUT_S)
        except KafkaException as exc:  # e.g. another process seeded it and joined first
            log.warning("%s: starting point not committed here (%s)", self.group_id, exc)
            return
        if start is not None:
            log.info("%s: new group starts at %s", self.group_id, start)

    def _consumer(self) -> Consumer:
        if self._loop is None:
            raise RuntimeError("the lane is not running")
        return self._loop.consumer

    # -- the processor: what the lane does with alerts -------------------------------------------
    def poll_limits(self) -> tuple[int, float]:
        # at most what the backlog has room for; no wait while a worker result is awaited
        room = max(1, self.backlog_max - len(self._backlog))
        return room, 0.0 if self._backlog or self._holding else POLL_S

    def process(self, message: Message) -> None:
        partition, offset = message.partition() or 0, message.offset() or 0
        if partition not in self._commits.owned:
            return
        try:
            self._book.take(partition, offset)
        except ValueError as exc:  # fetched again after a resume: already ours
            log.debug("%s: %s", self.group_id, exc)
            return
        self._backlog.append(message)
        self.stats.peak_backlog = max(self.stats.peak_backlog, len(self._backlog))

    def step(self) -> None:
        filled = self._full()  # a poll that filled the backlog pauses at once
        self._collect()
        self._dlq.poll()
        self._dispatch()
        self._commits.tick(self._consumer())
        if self._backlog or self._holding:  # waiting for a worker, not for Kafka
            self._collect(POLL_S)
            self._dispatch()
        self._flow(filled)

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
        self._workers.send(work, alert)

    def _collect(self, wait_s: float = 0.0) -> None:
        for work, result in self._workers.results(wait_s):
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
        self._active[work.key] = work
        self._dlq.send(work, error)

    def _dead_lettered(self, work: Work, error: BaseException) -> None:
        where = self.target.name if work.alert is not None else "decode"
        metrics.DELIVERY_DEAD_LETTERED.labels(where).inc()
        self.stats.dead_lettered += 1
        log.error(
            "%s: alert %s (partition %d offset %d) in vigil.dlq: %s: %s",
            where,
            work.alert_id or "?",
            *work.key,
            type(error).__name__,
            error,
        )
        self._finish(work)

    def _finish(self, work: Work) -> None:
        self._active.pop(work.key, None)
        self._book.finish(*work.key)

    def _full(self) -> bool:
        return len(self._backlog) >= self.backlog_max or self._book.open >= MAX_OPEN_OFFSETS

    def _flow(self, filled: bool) -> None:
        """Backpressure from a full backlog or too many open offsets (now, or right after
        the poll), until the backlog is down to half (the loop pauses the partitions)."""
        full = filled or self._full()
        if full and not self._holding:
            self._holding = True
            self.stats.pauses += 1
            metrics.DELIVERY_PAUSES.labels(self.target.name).inc()
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(1)
        elif self._holding and not full and len(self._backlog) <= self.backlog_max // 2:
            self._holding = False
            metrics.DELIVERY_PAUSED.labels(self.target.name).set(0)
        if self._holding:
            raise Backpressure(f"{self.target.name}: {len(self._backlog)} alerts wait", 0.0)

    # -- rebalances and stopping ---------------------------------------------------------------
    def on_assign(self, partitions: list[TopicPartition]) -> None:
        self._commits.assigned(tp.partition for tp in partitions)
        self._owned_now = frozenset(self._commits.owned)
        log.info("%s: assigned %s", self.group_id, [tp.partition for tp in partitions])
        self.ready.set()

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        if any(k[0] in gone for k in self._active):
            self._dlq.flush(KAFKA_TIMEOUT_S)  # acknowledged DLQ writes finish their alerts
        self._collect()
        self._commits.commit_now(self._consumer(), gone)
        self._forget(gone)
        log.info("%s: revoked %s", self.group_id, sorted(gone))

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        gone = {tp.partition for tp in partitions}
        self._forget(gone)
        log.warning(
            "%s: lost %s; their unfinished alerts go to the new owner", self.group_id, sorted(gone)
        )

    def _forget(self, gone: set[int]) -> None:
        self.stats.revoked += len(gone & self._commits.owned)
        self._book.forget(gone)
        for key, work in list(self._active.items()):
            if key[0] in gone:
                del self._active[key]
                self._ids.discard(work.alert_id)
        self._backlog = deque(m for m in self._backlog if m.partition() not in gone)
        self._commits.released(gone)
        self._owned_now = frozenset(self._commits.owned)

    def drain(self, deadline: float) -> None:
        """Bounded: finish what is on the wire, abandon the rest, commit what finished."""
        until = min(deadline, self._drain_until)
        loop, consumer = self._loop, self._consumer()
        self._workers.abandon.set()
        waiting = len(self._backlog)
        self._backlog.clear()  # not started: stays uncommitted, sent after a restart
        if loop is not None:
            loop.hold(loop.assignment)
        while self._in_flight > 0 and time.monotonic() < until:
            self._collect(min(POLL_S, max(0.0, until - time.monotonic())))
            for msg in consumer.consume(1, 0):  # serves the commit and rebalance callbacks
                if msg.error() is None:
                    self.process(msg)  # taken (so never committed past), not sent
            self._backlog.clear()
            self._dlq.poll()
        self._dlq.flush(max(0.5, until - time.monotonic()))
        self._collect()
        self._commits.commit_now(consumer, set(self._commits.owned))
        log.info(
            "%s: stopped (%d still in flight abandoned, %d not started)",
            self.group_id,
            self._in_flight,
            waiting,
        )
