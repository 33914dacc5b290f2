"""The stall guard's decision and its rewind, on a stand-in for faust's consumer (pure logic:
the real broker path is the alerting restart test)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from streams.stall import StallGuard


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass
class FakeConsumer:
    _committed_offset: dict[TP, int | None]
    _read_offset: dict[TP, int | None]
    seeks: list[tuple[TP, int]] = field(default_factory=list)

    def assignment(self) -> set[TP]:
        return set(self._committed_offset)

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_only_a_quiet_partition_with_uncommitted_deliveries_is_rewound() -> None:
    clock = Clock()
    guard = StallGuard("det", 15.0, clock)
    stuck, idle, busy, other = TP("det", 0), TP("det", 1), TP("det", 2), TP("changelog", 0)
    consumer = FakeConsumer(
        {stuck: 184, idle: 280, busy: 10, other: 0},
        {stuck: 279, idle: 279, busy: 40, other: 50},
    )
    guard.seen(0)
    clock.now += 10
    guard.seen(2)
    assert asyncio.run(guard.check(consumer)) == []  # not quiet long enough yet
    clock.now += 6
    assert asyncio.run(guard.check(consumer)) == [0]
    assert consumer.seeks == [(stuck, 184)]
    # just rewound: quiet again only after another stall_s
    clock.now += 5
    assert asyncio.run(guard.check(consumer)) == []


def test_unknown_positions_are_left_alone() -> None:
    clock = Clock()
    guard = StallGuard("det", 1.0, clock)
    clock.now += 60
    assert not guard.stalled(0, None, 10)
    assert not guard.stalled(0, 5, None)
    assert not guard.stalled(0, 11, 10)
    assert guard.stalled(0, 10, 10)
