"""One frame that makes the models raise must not take its batch, or the worker, with it.

The batch is run whole; if that raises, it is split in halves and each half re-run, down to
single frames: every frame that still fails on its own is returned with its exception (the
loop dead-letters it with the reason), every other frame gets its results as usual. One bad
frame in a batch of 8 costs 7 runs instead of a crash loop that replays the batch forever.
A model that fails for every frame sends every frame to the DLQ, with the reason, where
``vigil dlq`` can re-drive them once it is fixed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_isolating(
    run: Callable[[Sequence[T]], list[R]], items: Sequence[T]
) -> tuple[list[R], list[tuple[int, Exception]]]:
    """``run`` over ``items`` (one result per item, in order), bisecting on any exception.
    Returns the results of the items that succeeded, in order, and ``(index, exception)`` for
    each item that failed alone."""
    results: list[R] = []
    failed: list[tuple[int, Exception]] = []

    def attempt(lo: int, hi: int) -> None:
        try:
            out = run(items[lo:hi])
        except Exception as exc:  # any failure: a model, a decoder, a serializer
            if hi - lo == 1:
                failed.append((lo, exc))
                return
            mid = (lo + hi) // 2
            attempt(lo, mid)
            attempt(mid, hi)
            return
        if len(out) != hi - lo:
            raise RuntimeError(f"{hi - lo} items gave {len(out)} results")
        results.extend(out)

    if items:
        attempt(0, len(items))
    return results, failed


def describe(exc: BaseException, limit: int = 500) -> str:
    """``ClassName: message`` on one line, bounded (it becomes a DLQ header)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:limit]
