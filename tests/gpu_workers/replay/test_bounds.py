"""Capture-time ranges to offsets on a real topic (times on the command line:
tests/vigil/test_timeparse.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpu_workers.replay.bounds import plan_replay
from vigil import kafka
from vigil.testing import now_ms
from vigil_app.settings import VigilSettings


def test_plan_uses_record_times_with_skew_and_delay(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    prod = kafka.producer(settings)
    base = now_ms() - 100_000
    for i in range(20):  # partition 0 stamped every 5 s; partition 1 left empty
        prod.produce(topic, b"x", partition=0, timestamp=base + i * 5_000)
    prod.flush(30)
    cons = kafka.consumer(settings, "planner")
    try:
        plan = plan_replay(
            cons, topic, base + 30_000, base + 50_000, clock_skew_ms=5_000,
            max_ingest_delay_ms=10_000,
        )  # fmt: skip
        only = plan_replay(cons, topic, base + 30_000, base + 50_000, partitions=[1])
        with pytest.raises(ValueError, match="before --from"):
            plan_replay(cons, topic, base + 1, base)
        with pytest.raises(ValueError, match="no \\[7\\]"):
            plan_replay(cons, topic, base, base + 1, partitions=[7])
    finally:
        cons.close()
    p0, p1 = plan.partitions
    # from 25 s (skew) to the first record at or after 60 s + 1 ms (delay), exclusive
    assert (p0.start, p0.end) == (5, 13)
    assert (p1.start, p1.end, p1.size) == (0, 0, 0)
    assert plan.total == 8
    assert [tp.partition for tp in plan.assignment()] == [0]
    assert [p.partition for p in only.partitions] == [1]  # --partitions: this process's share
