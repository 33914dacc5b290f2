"""Dynamic batching: a batch closes when it holds ``max_batch`` items, when its oldest item
has waited ``max_wait_s`` (Triton's dynamic batcher, DeepStream's muxer timeout), or, when the
caller says nothing more is waiting, at once (batches then grow only while the engine is
busy). Items keep arrival order, so offsets commit in order per partition."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    item: T
    arrived: float


class Batcher(Generic[T]):
    def __init__(self, max_batch: int, max_wait_s: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: deque[_Entry[T]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __iter__(self) -> Iterator[T]:
        return (e.item for e in self._queue)

    def add(self, item: T, now: float) -> None:
        self._queue.append(_Entry(item, now))

    def ready(self, now: float, *, drained: bool = False) -> bool:
        """Full, or the oldest item's wait is over; ``drained`` (nothing more is waiting to
        join): at once, so an idle engine never waits for a batch to fill."""
        if not self._queue:
            return False
        if drained or len(self._queue) >= self.max_batch:
            return True
        return now - self._queue[0].arrived >= self.max_wait_s

    def wait_s(self, now: float) -> float:
        """How long until the oldest item's deadline (0 when a batch is ready)."""
        if not self._queue:
            return self.max_wait_s
        if len(self._queue) >= self.max_batch:
            return 0.0
        return max(0.0, self._queue[0].arrived + self.max_wait_s - now)

    def take(self) -> list[T]:
        """The oldest ``max_batch`` items (fewer if fewer are queued)."""
        return [item for item, _ in self.take_timed(0.0)]

    def take_timed(self, now: float) -> list[tuple[T, float]]:
        """:meth:`take`, each item with how long it waited in the batcher until ``now``."""
        n = min(self.max_batch, len(self._queue))
        entries = [self._queue.popleft() for _ in range(n)]
        return [(e.item, now - e.arrived) for e in entries]

    def drop(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove (and return) the items ``predicate`` selects, keeping the others' order."""
        kept: deque[_Entry[T]] = deque()
        dropped: list[T] = []
        for entry in self._queue:
            if predicate(entry.item):
                dropped.append(entry.item)
            else:
                kept.append(entry)
        self._queue = kept
        return dropped
