"""The group-less readers against the real broker: read to the end offsets taken first (past
transaction markers and aborted records), catch up then follow, stop in bounded time, and
errors that stop a reader are reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Message

from vigil.follow import Follower, at, last, read_to_end, topic_ends
from vigil.testing import Landed, poll_until, write_aborted, write_committed
from vigil_app.settings import VigilSettings

Seen = tuple[int, int, bytes | None]  # partition, offset, value


def where(msg: Message) -> Seen:
    return msg.partition() or 0, msg.offset() or 0, msg.value()


def places(landed: list[Landed]) -> set[tuple[int, int]]:
    return {(r.partition, r.offset) for r in landed}


def test_read_to_end_hands_on_every_committed_record_and_passes_the_markers(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)
    write_aborted(settings, topic, [(f"k{i}", b"aborted") for i in range(20)])
    kept = write_committed(settings, topic, [(f"k{i}", f"c{i}".encode()) for i in range(20)])
    # every partition ends in an abort marker after aborted records
    write_aborted(settings, topic, [(f"k{i}", b"aborted") for i in range(20)])
    seen: list[Seen] = []
    ends = read_to_end(settings, topic, lambda m: seen.append(where(m)), timeout_s=30)
    assert ends == {(topic, p): end for p, end in topic_ends(settings, topic).items()}
    assert {(p, o) for p, o, _ in seen} == places(kept)
    assert sorted(v or b"" for _, _, v in seen) == sorted(f"c{i}".encode() for i in range(20))


def test_read_to_end_stops_at_the_end_offsets_taken_first(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    write_committed(settings, topic, [("k", b"one"), ("k", b"two")])
    seen: list[bytes | None] = []

    def on_record(msg: Message) -> None:
        if not seen:  # committed while the read is under way: past its end
            write_committed(settings, topic, [("k", b"late")])
        seen.append(msg.value())

    read_to_end(settings, topic, on_record, timeout_s=30)
    assert seen == [b"one", b"two"]
    again: list[bytes | None] = []
    read_to_end(settings, topic, lambda m: again.append(m.value()), timeout_s=30)
    assert again == [b"one", b"two", b"late"]


def test_read_to_end_from_positions_and_until(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    write_committed(settings, topic, [("k", f"r{i}".encode()) for i in range(5)])
    tail: list[bytes | None] = []
    read_to_end(settings, topic, lambda m: tail.append(m.value()), start=last(3))
    assert tail == [b"r3", b"r4"]  # offsets 3 to 5 of 0..5: the last offset is the marker
    from_two: list[bytes | None] = []
    read_to_end(settings, topic, lambda m: from_two.append(m.value()), start=at({(topic, 0): 2}))
    assert from_two == [b"r2", b"r3", b"r4"]

    # until: the end is taken once the condition holds, so records written meanwhile count
    got: list[bytes | None] = []

    def writer() -> None:
        time.sleep(0.5)
        write_committed(settings, topic, [("k", b"later")])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        read_to_end(settings, topic, lambda m: got.append(m.value()), until=lambda: b"later" in got)
    finally:
        thread.join(30)
    assert got == [*(f"r{i}".encode() for i in range(5)), b"later"]


def test_caught_up_only_once_every_partition_reached_the_ends_taken_at_start(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=4)
    # several partitions each longer than one fetched batch (so positions are checked while
    # some are done and others not), one much longer still, an aborted transaction at its end
    short = write_committed(settings, topic, [(f"s{i % 12}", b"s") for i in range(12 * 600)])
    used = {r.partition for r in short}
    assert len(used) > 1
    long_key = next(r.key for r in short if r.partition == min(used))
    long = write_committed(settings, topic, [(long_key, b"x") for _ in range(3000)])
    write_aborted(settings, topic, [(long_key, b"aborted"), ("s0", b"aborted")])
    committed = places(long) | places(short)
    seen: list[Seen] = []
    at_catch_up: list[set[tuple[int, int]]] = []
    lock = threading.Lock()

    def on_record(msg: Message) -> None:
        with lock:
            seen.append(where(msg))

    def snapshot() -> None:
        with lock:
            at_catch_up.append({(p, o) for p, o, _ in seen})

    follower = Follower(
        settings, topic, on_record, name="test-follow", on_caught_up=snapshot
    ).start()
    try:
        follower.wait(60)
        assert at_catch_up == [committed]
        # following: an aborted transaction then a committed one behind it
        write_aborted(settings, topic, [(long_key, b"aborted-live")])
        live = write_committed(settings, topic, [(long_key, b"live")])
        followed = poll_until(lambda: (live[0].partition, live[0].offset, b"live") in seen, 30)
        assert followed, "the committed record was not followed"
        assert follower.error is None
    finally:
        assert follower.stop(10)
    values = [v for _, _, v in seen]
    assert values.count(b"live") == 1
    assert not [v for v in values if v and v.startswith(b"aborted")]
    assert {(p, o) for p, o, _ in seen} == committed | places(live)


def test_an_empty_topic_is_caught_up_at_once(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    follower = Follower(settings, topic, lambda _m: None, name="test-follow-empty").start()
    try:
        follower.wait(30)
    finally:
        assert follower.stop(10)


def test_stop_returns_within_its_timeout(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    idle = Follower(settings, topic, lambda _m: None, name="test-follow-idle").start()
    idle.wait(30)
    began = time.monotonic()
    assert idle.stop(timeout_s=5)  # polls in short waits: sees the stop at once
    assert time.monotonic() - began < 5
    assert not idle.alive

    # a record handler that does not return: stop still returns at its timeout, False
    release = threading.Event()
    write_committed(settings, topic, [("k", b"stuck")])
    entered = threading.Event()

    def stuck(_msg: Message) -> None:
        entered.set()
        release.wait(60)

    busy = Follower(settings, topic, stuck, name="test-follow-busy").start()
    try:
        assert entered.wait(30)
        began = time.monotonic()
        assert not busy.stop(timeout_s=1.0)
        took = time.monotonic() - began
        assert 1.0 <= took < 2.0
    finally:
        release.set()
    busy.thread.join(10)
    assert not busy.alive  # released: it saw the stop and closed its consumer


def test_an_error_in_a_handler_stops_the_reader_and_is_reported(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1)
    write_committed(settings, topic, [("k", b"bad")])
    reported: list[BaseException] = []

    def on_record(_msg: Message) -> None:
        raise ValueError("cannot handle this record")

    follower = Follower(
        settings, topic, on_record, name="test-follow-error", on_error=reported.append
    ).start()
    with pytest.raises(ValueError, match="cannot handle"):
        follower.wait(30)
    assert isinstance(follower.error, ValueError)
    assert reported == [follower.error]
    assert follower.stop(10)
    assert not follower.caught_up.is_set()
