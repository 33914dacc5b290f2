"""Proof that the broker is real Apache Kafka: transactions and consumer-group balancing."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from vigil import kafka
from vigil.testing import poll_until, read_uncommitted
from vigil_app.settings import VigilSettings


def _drain(cons: Consumer, seconds: float = 4.0) -> list[bytes | None]:
    out: list[bytes | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.extend(m.value() for m in cons.consume(100, timeout=0.5) if m.error() is None)
    return out


def test_aborted_transaction_is_invisible_to_read_committed(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    prod = kafka.transactional_producer(settings, f"tx-{topic}")
    prod.begin_transaction()
    for i in range(5):
        prod.produce(topic, f"aborted-{i}".encode())
    prod.flush(10)
    prod.abort_transaction(30)
    prod.begin_transaction()
    for i in range(3):
        prod.produce(topic, f"committed-{i}".encode())
    prod.commit_transaction(30)

    committed = kafka.consumer(settings, f"rc-{topic}")
    committed.assign([TopicPartition(topic, 0, 0)])
    uncommitted = read_uncommitted(settings, f"ru-{topic}")
    uncommitted.assign([TopicPartition(topic, 0, 0)])
    seen_committed = _drain(committed)
    seen_uncommitted = _drain(uncommitted)
    committed.close()
    uncommitted.close()

    assert seen_committed == [f"committed-{i}".encode() for i in range(3)]
    # the aborted records really reached the log: only isolation hides them
    assert seen_uncommitted == [f"aborted-{i}".encode() for i in range(5)] + seen_committed


def test_group_of_two_splits_four_partitions(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=4)
    group = f"group-{topic}"
    members = [kafka.consumer(settings, group) for _ in range(2)]
    for m in members:
        m.subscribe([topic])

    assignments: list[set[int]] = [set(), set()]

    def balanced() -> bool:
        for i, m in enumerate(members):
            m.poll(0.2)
            assignments[i] = {tp.partition for tp in m.assignment()}
        return all(len(a) == 2 for a in assignments) and assignments[0] | assignments[1] == {
            0,
            1,
            2,
            3,
        }

    poll_until(balanced, 60, interval_s=0)
    for m in members:
        m.close()

    assert sorted(len(a) for a in assignments) == [2, 2]
    assert assignments[0].isdisjoint(assignments[1])
    assert assignments[0] | assignments[1] == {0, 1, 2, 3}
