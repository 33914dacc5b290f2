"""Named crash points for the crash tests, and nothing else: product code calls
``faults.hit("<point>")`` where a kill proves a guarantee (exactly-once across a crash), and
the call does nothing unless a test armed that point.

A test arms points for a child process with ``VIGIL_FAULTS=between_tables:2,after_insert:5``
(SIGKILL on the 2nd and 5th time those points are reached), or in-process with :func:`arm`.
The variable is read when a point is first reached, never at import time.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

ENV = "VIGIL_FAULTS"

POINTS = {
    "between_tables": "ClickHouse sink: one table of a batch inserted, the next not yet",
    "after_insert": "ClickHouse sink: a batch fully inserted, its offsets not yet committed",
    "worker_commit": "worker: a transaction's offsets sent in the background commit, not committed",
    "worker_swap": "worker: the old model's work committed, the new model not yet switched in",
}


@dataclass
class Faults:
    """How many times each armed point may be reached before the process is SIGKILLed."""

    at: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        """``point:N,point:N``; an unknown point or a bad count is a ``ValueError``."""
        at = {}
        for part in filter(None, (spec or "").split(",")):
            point, _, count = part.partition(":")
            if point not in POINTS or not count.isdigit():
                raise ValueError(f"bad fault spec {part!r}: use {'|'.join(POINTS)}:N")
            at[point] = int(count)
        return cls(at=at)

    def hit(self, point: str) -> None:
        if point not in self.at:
            return
        self.seen[point] = self.seen.get(point, 0) + 1
        if self.seen[point] == self.at[point]:
            log.warning("fault injection: SIGKILL at %s #%d", point, self.seen[point])
            os.kill(os.getpid(), signal.SIGKILL)


_armed: Faults | None = None


def arm(spec: str | None) -> Faults:
    """Arm the points of ``spec`` in this process (``None`` or ``""``: none), replacing any."""
    global _armed
    _armed = Faults.parse(spec)
    return _armed


def hit(point: str) -> None:
    """A crash point: SIGKILL this process if ``point`` is armed and reached its count."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r}")
    (_armed or arm(os.environ.get(ENV))).hit(point)
