"""How a webhook POST is signed, and how a receiver checks it.

Every POST carries three headers:

- ``X-Vigil-Alert-Id``: the alert's deterministic id. Delivery is at least once, so a
  receiver drops an id it has already handled.
- ``X-Vigil-Timestamp``: unix seconds (an integer) when *this attempt* was made; a retry
  carries a new timestamp and a new signature.
- ``X-Vigil-Signature: sha256=<hex>``, only when the webhook has a ``secret``: the lowercase
  hex HMAC-SHA256, keyed with the secret (UTF-8), of ``f"{timestamp}.".encode() + body``,
  where ``body`` is the exact bytes of the request body.

A receiver recomputes the HMAC over the timestamp header and the raw body, compares it in
constant time, and refuses a timestamp more than ``tolerance_s`` (300 s by default) away
from its own clock, so a captured request cannot be replayed later. :func:`verify` does all
of that; :func:`check` says which test failed (for counting or logging)::

    from streams.alerting.delivery import verify
    ok = verify(secret, body, headers.get("X-Vigil-Timestamp"), headers.get("X-Vigil-Signature"))
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import time

ALERT_ID_HEADER = "X-Vigil-Alert-Id"
TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
DEFAULT_TOLERANCE_S = 300.0
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _key(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>``."""
    mac = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post_headers(
    alert_id: str, body: bytes, secret: bytes | str | None, now: float | None = None
) -> dict[str, str]:
    """The headers of one attempt: the alert id, this attempt's timestamp, the signature."""
    ts = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        ALERT_ID_HEADER: alert_id,
        TIMESTAMP_HEADER: str(ts),
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = signature(secret, ts, body)
    return headers


class Verdict(enum.Enum):
    OK = "ok"
    MALFORMED = "malformed"  # a header missing, or the timestamp is not unix seconds
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"  # signed correctly, but too far from the receiver's clock: a replay


def check(
    secret: bytes | str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Verdict:
    """The receiver's check of one request (see the module docstring)."""
    if timestamp_header is None or signature_header is None:
        return Verdict.MALFORMED
    stamp = timestamp_header.strip()
    if not _TIMESTAMP.fullmatch(stamp):
        return Verdict.MALFORMED
    expected = signature(secret, int(stamp), body).encode()
    given = signature_header.strip().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        return Verdict.BAD_SIGNATURE
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_s:
        return Verdict.STALE
    return Verdict.OK


def verify(
    secret: bytes | str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True only for an authentic request whose timestamp is within ``tolerance_s``."""
    return check(secret, body, timestamp_header, signature_header, tolerance_s, now) is Verdict.OK
