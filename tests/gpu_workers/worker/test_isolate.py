"""Splitting a batch to find the frames that make it raise (pure logic)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gpu_workers.worker.isolate import describe, run_isolating


@pytest.mark.parametrize("bad", [set(), {0}, {7}, {3}, {2, 5}, set(range(8))])
def test_every_failing_item_alone_every_other_processed_in_order(bad: set[int]) -> None:
    calls: list[list[int]] = []

    def run(batch: Sequence[int]) -> list[int]:
        calls.append(list(batch))
        if bad & set(batch):
            raise ValueError(f"bad in {list(batch)}")
        return [i * 10 for i in batch]

    results, failed = run_isolating(run, list(range(8)))
    assert results == [i * 10 for i in range(8) if i not in bad]
    assert [i for i, _ in failed] == sorted(bad)
    assert all(isinstance(exc, ValueError) for _, exc in failed)
    for i in bad:
        assert [i] in calls  # each failure was confirmed alone
    if len(bad) == 1:
        assert len(calls) == 7  # 8 -> 4+4 -> 2+2 -> 1+1


def test_empty_batch_runs_nothing_and_a_wrong_count_is_a_bug() -> None:
    assert run_isolating(lambda b: [1 / 0], []) == ([], [])
    with pytest.raises(RuntimeError):
        run_isolating(lambda b: [], [1])


def test_describe_is_one_bounded_line() -> None:
    text = describe(ValueError("a\nb  c" + "x" * 1000))
    assert text.startswith("ValueError: a b c")
    assert len(text) == 500
    assert "\n" not in text
