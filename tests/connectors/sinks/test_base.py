"""The batching contract alone (pure logic, an in-memory sink)."""

from __future__ import annotations

import pytest

from connectors.sinks.base import BatchingSink, BatchPolicy, SinkBackpressureError


class Memory(BatchingSink[int]):
    def __init__(self, policy: BatchPolicy, clock: list[float]) -> None:
        super().__init__(policy, clock=lambda: clock[0])
        self.written: list[list[int]] = []
        self.fail = False

    def write(self, batch: list[int]) -> None:
        if self.fail:
            raise SinkBackpressureError("down", retry_after=2.0)
        self.written.append(list(batch))


def test_batches_by_rows_and_by_time() -> None:
    now = [0.0]
    sink = Memory(BatchPolicy(max_rows=10, max_wait_s=1.0), now)
    assert not sink.due()
    sink.add(1, rows=4)
    assert not sink.due()
    sink.add(2, rows=6)
    assert sink.due()
    assert sink.full()
    assert sink.flush() == [1, 2]
    sink.add(3, rows=1)
    now[0] = 0.5
    assert not sink.due()
    now[0] = 1.0
    assert sink.due()
    sink.flush()
    assert sink.written == [[1, 2], [3]]
    assert sink.flush() == []


def test_failed_write_keeps_the_batch_for_the_retry() -> None:
    sink = Memory(BatchPolicy(max_rows=2), [0.0])
    sink.add(1, rows=1)
    sink.add(2, rows=1)
    sink.fail = True
    with pytest.raises(SinkBackpressureError) as info:
        sink.flush()
    assert info.value.retry_after == 2.0
    assert sink.items == [1, 2]
    assert sink.rows == 2
    sink.fail = False
    assert sink.flush() == [1, 2]


def test_discard_forgets_selected_items_and_recounts_rows() -> None:
    sink = Memory(BatchPolicy(), [0.0])
    for i in range(6):
        sink.add(i, rows=i)
    assert sink.discard(lambda i: i % 2 == 1, lambda i: i) == 3
    assert sink.items == [0, 2, 4]
    assert sink.rows == 6
