"""One way to read a time on any command line: ISO 8601 (no zone: UTC), epoch milliseconds
(negative too), ``now``, or a time relative to now such as ``-15m`` or ``-1.5h``."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_EPOCH_MS = re.compile(r"^-?\d+$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_time(text: str, now: int | None = None) -> int:
    """UTC milliseconds since the epoch for ``text``; ``now`` (ms) is what relative times count
    back from (the clock when None). Raises ``ValueError`` naming the accepted forms."""
    value = text.strip()
    ref = now_ms() if now is None else now
    if value == "now":
        return ref
    relative = _RELATIVE.match(value)
    if relative:
        return ref - round(float(relative.group(1)) * _UNIT_MS[relative.group(2)])
    if _EPOCH_MS.match(value):
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use ISO 8601 (2026-11-22T10:00:00Z), epoch ms, "
            "'now' or a relative time such as -15m"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    micros = (parsed - _EPOCH) // _MICROSECOND  # exact: no float rounding of large times
    return (micros + 500) // 1000
