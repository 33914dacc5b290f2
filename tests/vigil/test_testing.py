"""The transaction doubles users' tests rely on: aborted records really are in the log, and
only a read_committed reader skips them."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition

from tests.vigil.test_kafka_is_real import read_uncommitted
from vigil import kafka
from vigil.settings import VigilSettings
from vigil.testing import Landed, write_aborted, write_committed


def _read_to(cons: Consumer, topic: str, end: int, timeout_s: float = 30.0) -> list[bytes]:
    """Values read from offset 0 until the position reaches ``end`` (past any marker)."""
    cons.assign([TopicPartition(topic, 0, 0)])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while cons.position([TopicPartition(topic, 0)])[0].offset < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic} not read to {end}: {out}")
        out.extend(m.value() or b"" for m in cons.consume(100, timeout=0.5) if m.error() is None)
    return out


def test_aborted_records_land_in_the_log_and_read_committed_skips_them(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    aborted = write_aborted(settings, topic, [("k", f"a{i}".encode()) for i in range(3)])
    committed = write_committed(settings, topic, [("k", f"c{i}".encode()) for i in range(2)])
    # offsets 0-2 aborted, 3 the abort marker, 4-5 committed, 6 the commit marker
    assert aborted == [Landed(b"k", 0, i) for i in range(3)]
    assert committed == [Landed(b"k", 0, 4), Landed(b"k", 0, 5)]

    rc = kafka.consumer(settings, f"rc-{topic}", **{"isolation.level": "read_committed"})
    ru = read_uncommitted(settings, f"ru-{topic}")
    try:
        end = kafka.end_offsets(rc, topic)[0].offset
        assert end == 7
        assert _read_to(rc, topic, end) == [b"c0", b"c1"]
        assert _read_to(ru, topic, end) == [b"a0", b"a1", b"a2", b"c0", b"c1"]
    finally:
        rc.close()
        ru.close()
