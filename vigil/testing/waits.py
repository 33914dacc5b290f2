"""The one polling loop with a deadline: tests and benches wait on a condition through it, so
each wait has a timeout and calls the condition once more at the end (a condition met while
sleeping is not reported as a timeout)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None],
    timeout_s: float,
    what: str = "condition",
    interval_s: float = 0.05,
) -> T:
    """Call ``check`` every ``interval_s`` until it returns something truthy, and return that;
    after ``timeout_s`` raise ``TimeoutError`` naming ``what``."""
    got = _poll(check, timeout_s, interval_s)
    if not got:
        raise TimeoutError(f"{what}: not within {timeout_s:g}s")
    return got


def poll_until(check: Callable[[], object], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Like :func:`wait_until`, but ``False`` after ``timeout_s`` instead of an error: for a
    test that goes on and asserts on what it then sees."""
    return bool(_poll(check, timeout_s, interval_s))


def _poll(check: Callable[[], T | None], timeout_s: float, interval_s: float) -> T | None:
    """``check``'s first truthy result, or its last one at the deadline (where it is called
    once more, so a condition met while sleeping is not reported as a timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = time.monotonic() >= deadline
        got = check()
        if got or last:
            return got
        time.sleep(max(0.0, min(interval_s, deadline - time.monotonic())))
