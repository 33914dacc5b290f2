"""Kafka doubles that prove a consumer reads ``read_committed`` the way Vigil's own tests do,
and readers of what a process under test wrote.

:func:`write_aborted` puts records on a topic inside a transaction and aborts it, after making
sure every record reached the log (a record purged before it was sent would prove nothing);
:func:`write_committed` does the same with a commit. Both return where each record landed.
:func:`read_to_end` reads back every committed record of a topic, with no idle wait;
:func:`wait_settled` first waits for transactions still open on it (a killed writer's).
:func:`read_topic` and :class:`TopicReader` read a role's topic while its writer runs;
:func:`wait_committed` waits for a consumer group's committed offsets.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import NewTopic

from schemas.contracts import serde_for
from vigil import follow, kafka
from vigil.settings import CoreSettings
from vigil.testing.processes import VigilProcess
from vigil.testing.waits import poll_until, wait_until
from vigil.topics import Topic, ensure_topics, topic_specs, wait_for_leaders

Record = tuple[str | bytes | None, bytes | None]  # (key, value)


@dataclass(frozen=True)
class Landed:
    """Where one record of a transaction landed in the log."""

    key: str | bytes | None
    partition: int
    offset: int


def write_aborted(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Landed]:
    """Produce ``records`` in one transaction, flush them into the log, then abort it."""
    return _transaction(settings, topic, records, transactional_id, timeout_s, commit=False)


def write_committed(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
    visible: bool = True,
) -> list[Landed]:
    """Produce ``records`` in one transaction and commit it; with ``visible``, return once
    read_committed readers can reach them (never, while an earlier transaction stays open:
    a test of that passes False)."""
    return _transaction(
        settings, topic, records, transactional_id, timeout_s, commit=True, visible=visible
    )


def _transaction(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    transactional_id: str | None,
    timeout_s: float,
    *,
    commit: bool,
    visible: bool = False,
) -> list[Landed]:
    txn_id = transactional_id or f"vigil-testing-{uuid.uuid4().hex[:12]}"
    prod = kafka.transactional_producer(settings, txn_id)
    landed: list[Landed] = []
    errors: list[KafkaError] = []

    def done(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            landed.append(Landed(msg.key(), int(msg.partition() or 0), int(msg.offset() or 0)))

    prod.begin_transaction()
    sent = 0
    for key, value in records:
        kafka.produce(prod, topic, value, key=key, on_delivery=done, timeout_s=timeout_s)
        sent += 1
    left = prod.flush(timeout_s)
    if left or errors or len(landed) != sent:
        prod.abort_transaction(timeout_s)
        raise RuntimeError(
            f"transaction {txn_id} on {topic}: {sent} records, {len(landed)} in the log, "
            f"{left} unsent, errors {errors[:3]}"
        )
    if commit:
        prod.commit_transaction(timeout_s)
        # visible to read_committed readers when this returns (the markers land after commit)
        last: dict[tuple[str, int], int] = {}
        for r in landed:
            last[(topic, r.partition)] = max(last.get((topic, r.partition), -1), r.offset)
        if visible:
            kafka.wait_visible(settings, last, timeout_s)
    else:
        prod.abort_transaction(timeout_s)
    return sorted(landed, key=lambda r: (r.partition, r.offset))


def read_to_end(
    settings: CoreSettings,
    topic: str,
    until: Callable[[list[Message]], bool] | None = None,
    timeout_s: float = 60.0,
) -> list[Message]:
    """Every committed record of ``topic`` from its start: read until ``until(records)`` holds
    (records another process is still writing), then on to the end offsets the topic has at
    that moment, so everything committed before ``until`` held is in the result. The end is
    a position, which moves past transaction markers and aborted records; there is no idle
    wait, so a test that asserts nothing more came is never slow nor flaky."""
    out: list[Message] = []
    follow.read_to_end(
        settings,
        topic,
        out.append,
        until=None if until is None else lambda: until(out),
        name="vigil-testing-reader",
        timeout_s=timeout_s,
    )
    return out


def read_uncommitted(settings: CoreSettings, group: str) -> Consumer:
    """A consumer that sees aborted and still-open transactions' records too. ``kafka.consumer``
    refuses to build one, so this is a bare confluent-kafka consumer: for tests that prove the
    records are there, or that find the window between a send and its commit."""
    return Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": group,
            "isolation.level": "read_uncommitted",
            "enable.auto.commit": False,
        }
    )


def wait_settled(settings: CoreSettings, topic: str, timeout_s: float = 60.0) -> None:
    """Until no transaction is open on ``topic``: its last stable offset (what a
    ``read_committed`` reader can reach, and what :func:`read_to_end` takes as the end) equals
    its high watermark on every partition. A process killed mid-transaction leaves one open
    until the broker aborts it after ``transaction.timeout.ms``."""
    group = f"vigil-testing-{uuid.uuid4().hex}"
    stable = kafka.consumer(settings, group)
    high = read_uncommitted(settings, group)  # its end offsets include the open ones
    try:

        def settled() -> bool:
            lso = kafka.end_offsets(stable, topic)
            hw = kafka.end_offsets(high, topic)
            return [tp.offset for tp in lso] == [tp.offset for tp in hw]

        wait_until(settled, timeout_s, f"{topic}: an open transaction")
    finally:
        stable.close()
        high.close()


def new_topic(settings: CoreSettings, partitions: int = 1, **config: str) -> str:
    """Create a topic named ``<prefix>.<random>`` and wait for its leaders; returns the name."""
    name = f"{settings.topics.prefix}.{uuid.uuid4().hex[:8]}"
    client = kafka.admin(settings)
    client.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    wait_for_leaders(client, [name])
    return name


def provision(settings: CoreSettings) -> None:
    """Create every topic of ``settings``' prefix (as ``vigil topics create`` does)."""
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def read_topic(
    settings: CoreSettings,
    role: Topic,
    *,
    decode: bool = True,
    idle_s: float = 1.0,
    timeout_s: float = 10.0,
    want: int | None = None,
    proc: VigilProcess | None = None,
) -> list[Any]:
    """Everything committed on the topic: records (decoded) or messages; stops after ``want``
    records, or once nothing new arrived for ``idle_s`` after the end, or at ``timeout_s``.
    A ``proc`` that exits meanwhile raises with the end of its log."""
    topic = role.name_in(settings.topics)
    cons = kafka.consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
    serde = serde_for(settings, role) if decode else None
    out: list[Any] = []
    last = time.monotonic()

    def step() -> bool:  # True: done reading
        nonlocal last
        if want is not None and len(out) >= want:
            return True
        msg = cons.poll(0.2)
        if proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"vigil alerts exited: {proc.log_text()[-3000:]}")
        if msg is None:
            return want is None and time.monotonic() - last > idle_s
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(str(err))
            return False
        last = time.monotonic()
        out.append(serde.decode(msg) if serde is not None else msg)
        return False

    try:
        parts = kafka.end_offsets(cons, topic)
        cons.assign([TopicPartition(topic, tp.partition, 0) for tp in parts])
        poll_until(step, timeout_s, interval_s=0)
        return out
    finally:
        cons.close()


def committed_total(settings: CoreSettings, group: str, role: Topic = Topic.DETECTIONS) -> int:
    """Sum of the group's committed offsets on the topic (0 for partitions without one)."""
    topic = role.name_in(settings.topics)
    cons = kafka.consumer(settings, group)
    try:
        parts = kafka.end_offsets(cons, topic)
        got = cons.committed([TopicPartition(topic, tp.partition) for tp in parts], timeout=10)
        return sum(max(0, tp.offset) for tp in got)
    finally:
        cons.close()


def wait_committed(
    settings: CoreSettings,
    group: str,
    total: int,
    timeout_s: float,
    role: Topic = Topic.DETECTIONS,
    proc: VigilProcess | None = None,
) -> None:
    """Until ``group`` has committed ``total`` offsets on the topic; a ``proc`` that exits
    meanwhile raises with the end of its log."""

    def done() -> bool:
        if committed_total(settings, group, role) >= total:
            return True
        if proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"vigil alerts exited: {proc.log_text()[-3000:]}")
        return False

    try:
        wait_until(done, timeout_s, interval_s=0.2)
    except TimeoutError:
        raise TimeoutError(
            f"group {group} did not commit {total} offsets in {timeout_s:.0f}s"
        ) from None


class Watched(Protocol):
    """A child process a reader watches: it stops waiting once the process is gone."""

    log: Path

    def alive(self) -> bool: ...


class TopicReader:
    """Reads a topic from the beginning, keeping what it read between calls."""

    def __init__(self, settings: CoreSettings, role: Topic) -> None:
        self.topic = role.name_in(settings.topics)
        self.serde = serde_for(settings, role) if role is not Topic.DLQ else None
        self.cons = kafka.consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
        parts = kafka.end_offsets(self.cons, self.topic)
        self.cons.assign(
            [TopicPartition(self.topic, tp.partition, OFFSET_BEGINNING) for tp in parts]
        )
        self.records: list[Any] = []

    def poll(self, seconds: float = 0.5) -> None:
        for msg in self.cons.consume(1000, timeout=seconds):
            if msg.error():
                continue
            self.records.append(self.serde.decode(msg) if self.serde else msg)

    def until(
        self, done: Callable[[list[Any]], bool], timeout_s: float, proc: Watched | None = None
    ) -> list[Any]:
        """Poll until ``done(records)``; an ``AssertionError`` at ``timeout_s`` or when
        ``proc`` (the app writing the topic) exits."""

        def step() -> bool:
            if done(self.records):
                return True
            if proc is not None and not proc.alive():
                raise AssertionError(f"the app writing {self.topic} exited: see {proc.log}")
            self.poll()
            return False

        if not poll_until(step, timeout_s, interval_s=0):
            raise AssertionError(f"{self.topic}: condition not met in {timeout_s} s")
        return self.records

    def close(self) -> None:
        self.cons.close()
