"""Reading whole topics without a consumer group: :func:`read_to_end` reads every partition to
the end offsets of the moment and returns; :class:`Follower` does the same in a thread of its
own, reports "caught up", then keeps following new records until it is stopped.

Both assign every partition (no ``subscribe``: no group, no rebalance, nothing committed, so
every reader sees everything) and read ``read_committed``. The end of a partition is its end
offset taken first (the last stable offset), and it is reached by *position*, not by the
offset of a record read: a transaction ends in a marker, and an aborted transaction leaves
records, that a ``read_committed`` consumer never returns, yet its position moves past them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from vigil import kafka
from vigil.errors import VigilError
from vigil.settings import CoreSettings

log = logging.getLogger(__name__)
Key = tuple[str, int]  # (topic, partition)
StartAt = Callable[[Key, int, int], int]  # (topic, partition), low watermark, end -> offset
OnRecord = Callable[[Message], None]
BATCH = 500
POLL_S = 0.2


def topic_ends(settings: CoreSettings, topic: str, timeout_s: float = 30.0) -> dict[int, int]:
    """Partition -> end offset of ``topic`` now: where :func:`read_to_end` would stop, and what
    a group has to have committed to be caught up (transaction markers included)."""
    probe = kafka.consumer(settings, "vigil-probe")  # never subscribes: joins no group
    try:
        return {tp.partition: tp.offset for tp in kafka.end_offsets(probe, topic, timeout_s)}
    finally:
        probe.close()


class ReadError(VigilError, RuntimeError):
    """The broker reported an error while a topic was being read."""


def from_beginning(_key: Key, low: int, _end: int) -> int:
    """Read each partition from its oldest record still held."""
    return low


def from_end(_key: Key, _low: int, end: int) -> int:
    """Read only what is written from now on."""
    return end


def last(n: int) -> StartAt:
    """Read only the last ``n`` offsets of each partition (a tail)."""
    return lambda _key, low, end: max(low, end - n)


def at(offsets: Mapping[Key, int]) -> StartAt:
    """Read from the given offsets; a partition not named (or below its low watermark, e.g.
    deleted by retention) from its oldest record."""
    return lambda key, low, _end: max(low, offsets.get(key, low))


def _fetched(consumer: Consumer, timeout_s: float) -> list[Message]:
    """The next record as soon as it arrives (``consume(n, t)`` waits for all ``n`` or ``t``),
    with whatever else is already fetched."""
    first = consumer.consume(1, timeout=timeout_s)
    return first + consumer.consume(BATCH - 1, timeout=0) if first else first


class _Assigned:
    """One group-less consumer assigned to every partition of ``topics`` from ``start``, and
    the partitions that still have to reach their end."""

    def __init__(
        self, settings: CoreSettings, topics: Sequence[str], name: str, start: StartAt
    ) -> None:
        self.consumer = kafka.consumer(settings, f"{name}-{uuid.uuid4().hex[:12]}")
        self.topics = list(topics)
        self.ends: dict[Key, int] = {}  # the end offsets read at assignment, until taken again
        self.pending: set[Key] = set()
        try:
            self.starts = self._starts(start)
            self.consumer.assign([TopicPartition(t, p, o) for (t, p), o in self.starts.items()])
        except BaseException:
            self.consumer.close()
            raise

    def _starts(self, start: StartAt) -> dict[Key, int]:
        starts: dict[Key, int] = {}
        for topic in self.topics:
            for tp in kafka.end_offsets(self.consumer, topic):
                key = (topic, tp.partition)
                low = self.consumer.get_watermark_offsets(tp, 10.0)[0]
                starts[key] = max(low, start(key, low, tp.offset))
                self.ends[key] = tp.offset
        return starts

    def take_ends(self, *, now: bool) -> None:
        """The ends to reach: those read at assignment, or (``now``) the end offsets of now. A
        partition that starts at (or past) its end has nothing to read: its position would stay
        unknown, so it is not waited for."""
        if now:
            self.ends = {
                (topic, tp.partition): tp.offset
                for topic in self.topics
                for tp in kafka.end_offsets(self.consumer, topic)
            }
        self.pending = {k for k, end in self.ends.items() if end > self.starts.get(k, 0)}

    def reached(self) -> bool:
        """Whether every partition's position reached its end (updates ``pending``)."""
        if self.pending:
            keys = sorted(self.pending)
            at_now = self.consumer.position([TopicPartition(t, p) for t, p in keys])
            self.pending = {
                k for k, tp in zip(keys, at_now, strict=True) if tp.offset < self.ends[k]
            }
        return not self.pending

    def beyond_end(self, msg: Message) -> bool:
        key = (str(msg.topic()), msg.partition() or 0)
        end = self.ends.get(key)
        return end is not None and (msg.offset() or 0) >= end

    def close(self) -> None:
        self.consumer.close()


def read_to_end(
    settings: CoreSettings,
    topics: str | Sequence[str],
    on_record: OnRecord,
    *,
    start: StartAt = from_beginning,
    until: Callable[[], bool] | None = None,
    name: str = "vigil-reader",
    timeout_s: float = 60.0,
) -> dict[Key, int]:
    """Hand every committed record of ``topics`` from ``start`` up to the end offsets of the
    moment to ``on_record``, in the order fetched; the ends reached. With ``until``, records
    are read until ``until()`` holds (records another process is still writing) and the end
    offsets are taken then. Records past the ends are not handed on. ``TimeoutError`` when the
    end is not reached in ``timeout_s``; :class:`ReadError` for any broker error."""
    names = [topics] if isinstance(topics, str) else list(topics)
    reader = _Assigned(settings, names, name, start)
    deadline = time.monotonic() + timeout_s
    ended = False
    handed = 0
    try:
        while True:
            if not ended and (until is None or until()):
                reader.take_ends(now=until is not None)
                ended = True
            if ended and reader.reached():
                return reader.ends
            if time.monotonic() > deadline:
                state = "their end" if ended else "the condition"
                raise TimeoutError(
                    f"{', '.join(names)}: {handed} records read, {state} not reached "
                    f"in {timeout_s:.0f}s"
                )
            for msg in _fetched(reader.consumer, POLL_S):
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise ReadError(f"reading {', '.join(names)}: {err}")
                elif not (ended and reader.beyond_end(msg)):
                    on_record(msg)
                    handed += 1
    finally:
        reader.close()


class Follower:
    """Reads ``topics`` from ``start`` to the end offsets taken when it starts, sets
    :attr:`caught_up`, then follows new records, each handed to ``on_record`` in its thread.

    ``before`` runs first in that thread (wait for the cluster, create the topics); ``tick``
    before every poll (periodic work that belongs with the reader). A broker error librdkafka
    recovers from is logged and the reader goes on; a fatal one, or an exception from a
    callback, stops it: logged, kept in :attr:`error`, raised by :meth:`wait`, and passed to
    ``on_error``. ``on_caught_up`` runs in the reader's thread just before :attr:`caught_up` is
    set."""

    def __init__(
        self,
        settings: CoreSettings,
        topics: str | Sequence[str],
        on_record: OnRecord,
        *,
        name: str,
        start: StartAt = from_beginning,
        before: Callable[[], None] | None = None,
        tick: Callable[[], None] | None = None,
        on_caught_up: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.settings = settings
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.on_record = on_record
        self.name = name
        self.start_at = start
        self.before = before
        self.tick = tick
        self.on_caught_up = on_caught_up
        self.on_error = on_error
        self.poll_s = poll_s
        self.caught_up = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Follower:
        self.thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout_s: float) -> None:
        """Until caught up. Raises the reader's error if it failed first, ``TimeoutError`` past
        ``timeout_s``, ``RuntimeError`` if it was stopped before."""
        deadline = time.monotonic() + timeout_s
        while not self.caught_up.wait(min(POLL_S, max(0.0, deadline - time.monotonic()))):
            if self._ended.is_set():
                if self.error is not None:
                    raise self.error
                if not self.caught_up.is_set():
                    raise RuntimeError(f"{self.name}: stopped before catching up")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name}: not caught up in {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop following; whether the thread ended within ``timeout_s``."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        return not self.thread.is_alive()

    def _run(self) -> None:
        try:
            if self.before is not None:
                self.before()
            if not self._stop.is_set():
                self._follow()
        except Exception as exc:
            self.error = exc
            log.exception("%s: reader stopped", self.name)
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self._ended.set()

    def _follow(self) -> None:
        reader = _Assigned(self.settings, self.topics, self.name, self.start_at)
        try:
            reader.take_ends(now=False)
            while not self._stop.is_set():
                if not self.caught_up.is_set() and reader.reached():
                    self._report_caught_up()
                if self.tick is not None:
                    self.tick()
                for msg in _fetched(reader.consumer, self.poll_s):
                    err = msg.error()
                    if err is None:
                        self.on_record(msg)
                    elif err.fatal():
                        raise KafkaException(err)
                    elif err.code() != KafkaError._PARTITION_EOF:
                        log.warning("%s: %s", self.name, err)
                    if self._stop.is_set():
                        return
        finally:
            reader.close()

    def _report_caught_up(self) -> None:
        log.info("%s: caught up with %s", self.name, ", ".join(self.topics))
        if self.on_caught_up is not None:
            self.on_caught_up()
        self.caught_up.set()
