"""Drop policies and sequence numbers (pure logic, no broker)."""

from __future__ import annotations

import threading
from pathlib import Path

from connectors.frames import EncodedFrame
from connectors.sources.config import DropPolicy
from connectors.sources.publisher import FrameBuffer, SequenceCounter


def frame(seq: int) -> EncodedFrame:
    return EncodedFrame("c", seq, 0, 1, 1, b"j", "RTSP")


def drain(buf: FrameBuffer) -> list[int]:
    out = []
    while (f := buf.get(0)) is not None:
        out.append(f.sequence)
    return out


def test_drop_oldest_keeps_the_freshest_and_counts() -> None:
    buf = FrameBuffer("c", 3, DropPolicy.DROP_OLDEST)
    stop = threading.Event()
    results = [buf.put(frame(i), stop) for i in range(5)]
    assert results == [True] * 5
    assert drain(buf) == [2, 3, 4]
    assert buf.dropped == 2


def test_drop_newest_keeps_the_queue_and_counts() -> None:
    buf = FrameBuffer("c", 3, DropPolicy.DROP_NEWEST)
    stop = threading.Event()
    assert [buf.put(frame(i), stop) for i in range(5)] == [True, True, True, False, False]
    assert drain(buf) == [0, 1, 2]
    assert buf.dropped == 2


def test_wait_blocks_until_room_and_drops_nothing() -> None:
    buf = FrameBuffer("c", 2, DropPolicy.WAIT)
    stop = threading.Event()
    got: list[int] = []

    def consume() -> None:
        while len(got) < 6:
            f = buf.get(0.1)
            if f is not None:
                got.append(f.sequence)

    reader = threading.Thread(target=consume)
    reader.start()
    for i in range(6):
        assert buf.put(frame(i), stop)
    reader.join(10)
    assert got == list(range(6))
    assert buf.dropped == 0


def test_wait_gives_up_when_stopping() -> None:
    buf = FrameBuffer("c", 1, DropPolicy.WAIT)
    stop = threading.Event()
    assert buf.put(frame(0), stop)
    stop.set()
    assert buf.put(frame(1), stop) is False


def test_sequences_rise_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "cam.next"
    first = SequenceCounter(path)
    assert [first.next() for _ in range(3)] == [0, 1, 2]
    second = SequenceCounter(path)  # a restarted ingest: above anything used before
    resumed = second.next()
    assert resumed > 2
    assert second.next() == resumed + 1
