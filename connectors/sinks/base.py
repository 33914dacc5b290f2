"""The batching sink contract: callers ``add()`` items and ``flush()`` them; subclasses only
``write(batch)``. Batches are sized by rows and by time (ClickHouse wants >= 1,000 rows and
about one insert per second), and a failed ``write`` keeps the batch for the retry."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from vigil.errors import VigilError

T = TypeVar("T")


class SinkBackpressureError(VigilError):
    """The destination cannot take the batch now; try again after ``retry_after`` seconds.

    The consumer pauses its partitions (and keeps polling) until the retry succeeds.
    """

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class BatchPolicy:
    max_rows: int = 10_000
    max_wait_s: float = 1.0


class BatchingSink(ABC, Generic[T]):
    """Accumulates items (each worth some rows) and writes them as one batch."""

    def __init__(self, policy: BatchPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._items: list[T] = []
        self._rows = 0
        self._opened_at: float | None = None

    @property
    def items(self) -> list[T]:
        return self._items

    @property
    def rows(self) -> int:
        return self._rows

    def add(self, item: T, rows: int) -> None:
        if self._opened_at is None:
            self._opened_at = self._clock()
        self._items.append(item)
        self._rows += rows

    def full(self) -> bool:
        return self._rows >= self.policy.max_rows

    def due(self) -> bool:
        """Time to flush: enough rows, or the oldest item waited ``max_wait_s``."""
        if not self._items:
            return False
        opened = self._opened_at if self._opened_at is not None else self._clock()
        return self.full() or self._clock() - opened >= self.policy.max_wait_s

    def flush(self) -> list[T]:
        """Write the batch; the items written. On error the batch is kept for a retry."""
        if not self._items:
            return []
        batch = self._items
        self.write(batch)
        self._items, self._rows, self._opened_at = [], 0, None
        return batch

    def discard(self, drop: Callable[[T], bool], rows_of: Callable[[T], int]) -> int:
        """Forget the items ``drop`` selects (e.g. of revoked partitions); how many."""
        kept = [item for item in self._items if not drop(item)]
        dropped = len(self._items) - len(kept)
        self._items = kept
        self._rows = sum(rows_of(item) for item in kept)
        if not kept:
            self._opened_at = None
        return dropped

    @abstractmethod
    def write(self, batch: list[T]) -> None:
        """Write the whole batch, or raise (``SinkBackpressureError`` when worth retrying)."""
