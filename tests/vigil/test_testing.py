"""The transaction doubles users' tests rely on: aborted records really are in the log, and
only a read_committed reader skips them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition

from vigil import kafka
from vigil.testing import (
    Landed,
    poll_until,
    read_to_end,
    read_uncommitted,
    wait_settled,
    write_aborted,
    write_committed,
)
from vigil_app.settings import VigilSettings


def test_aborted_records_land_in_the_log_and_read_committed_skips_them(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    aborted = write_aborted(settings, topic, [("k", f"a{i}".encode()) for i in range(3)])
    committed = write_committed(settings, topic, [("k", f"c{i}".encode()) for i in range(2)])
    partition = aborted[0].partition
    # offsets 0-2 aborted, 3 the abort marker, 4-5 committed, 6 the commit marker
    assert aborted == [Landed(b"k", partition, i) for i in range(3)]
    assert committed == [Landed(b"k", partition, 4), Landed(b"k", partition, 5)]
    # the other partition holds an aborted transaction only: a reader must still finish it
    other = write_aborted(settings, topic, [(f"x{i}", b"x") for i in range(40)])
    assert {r.partition for r in other} == {0, 1}

    assert [m.value() for m in read_to_end(settings, topic)] == [b"c0", b"c1"]
    ru = read_uncommitted(settings, f"ru-{topic}")
    try:
        ru.assign([TopicPartition(topic, partition, 0)])
        seen: list[bytes | None] = []

        def read() -> bool:
            if len(seen) >= 5 + sum(r.partition == partition for r in other):
                return True
            seen.extend(m.value() for m in ru.consume(100, timeout=0.5) if m.error() is None)
            return False

        assert poll_until(read, 30, interval_s=0), seen
    finally:
        ru.close()
    assert seen[:5] == [b"a0", b"a1", b"a2", b"c0", b"c1"]
    assert set(seen[5:]) == {b"x"}


def test_explicit_read_committed_override_reads_committed_only(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    write_aborted(settings, topic, [("k", b"aborted")])
    write_committed(settings, topic, [("k", b"committed")])
    cons = kafka.consumer(settings, f"rc-{topic}", **{"isolation.level": "read_committed"})
    try:
        cons.assign([TopicPartition(topic, 0, 0)])
        got: list[bytes | None] = []

        def read() -> bool:
            if cons.position([TopicPartition(topic, 0)])[0].offset >= 4:
                return True
            got.extend(m.value() for m in cons.consume(10, timeout=0.5) if m.error() is None)
            return False

        assert poll_until(read, 30, interval_s=0), got
    finally:
        cons.close()
    assert got == [b"committed"]


def test_an_open_transaction_hides_what_follows_until_it_ends(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    """A writer killed mid-transaction: read_committed readers stop at its first record, and
    so does read_to_end's idea of the end, until the transaction ends; wait_settled waits."""
    topic = new_topic(partitions=1)
    write_committed(settings, topic, [("k", b"before")])
    stuck = kafka.transactional_producer(settings, f"stuck-{topic}")
    stuck.begin_transaction()
    kafka.produce(stuck, topic, b"open", key="k")
    assert stuck.flush(10) == 0
    write_committed(settings, topic, [("k", b"after")], visible=False)  # it cannot be, yet
    assert [m.value() for m in read_to_end(settings, topic)] == [b"before"]  # not "after" yet
    with pytest.raises(TimeoutError, match="open transaction"):
        wait_settled(settings, topic, timeout_s=2)
    stuck.abort_transaction(10)
    wait_settled(settings, topic, timeout_s=30)
    assert [m.value() for m in read_to_end(settings, topic)] == [b"before", b"after"]
