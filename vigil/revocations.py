"""The revocation list: key fingerprints, one-time key ids and session ids that are refused.

One small JSON file under the data directory, shared by every process on the host (``vigil
api`` replicas, ``vigil keys revoke``): written under an flock and replaced atomically, so a
reader never needs the lock. Readers look at the file at most every ``check_s`` seconds (one
``stat``; the file is read again only when it changed), which bounds how long another process's
revocation takes to be seen; a revocation made in this process is seen at once."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from vigil.errors import VigilError

Kind = Literal["key", "session"]


class RevocationsUnreadable(VigilError, RuntimeError):
    """The list exists but cannot be read: every key is refused (fail closed) until it is
    fixed, with this reason."""


def revocations_file(data_dir: Path) -> Path:
    return data_dir / "access" / "revoked.json"


class Revocations:
    def __init__(
        self, path: Path, check_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.check_s = check_s
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: frozenset[str] = frozenset()
        self._seen: tuple[int, int, int] | None = None
        self._checked = -float("inf")

    # reading -----------------------------------------------------------------------------------
    def is_revoked(self, *ids: str) -> bool:
        current = self._current()
        return any(i in current for i in ids if i)

    def entries(self) -> dict[str, dict[str, Any]]:
        return _live(_read(self.path))

    def _current(self) -> frozenset[str]:
        now = self._clock()
        with self._lock:
            if now - self._checked < self.check_s:
                return self._ids
            self._checked = now
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._ids, self._seen = frozenset(), None
                return self._ids
            signature = (st.st_mtime_ns, st.st_size, st.st_ino)
            if signature != self._seen:
                self._ids = frozenset(_live(_read(self.path)))
                self._seen = signature
            return self._ids

    # writing -----------------------------------------------------------------------------------
    def revoke(self, ident: str, kind: Kind, reason: str = "", ttl_s: float | None = None) -> bool:
        """Refuse ``ident`` from now on (a session id only until ``ttl_s``, when it would have
        expired anyway); False if it was already revoked."""
        now = int(time.time() * 1000)
        expires = None if ttl_s is None else now + int(ttl_s * 1000)

        def add(entries: dict[str, dict[str, Any]]) -> bool:
            new = ident not in entries
            entries[ident] = {
                "kind": kind,
                "reason": reason[:200],
                "revoked_ms": now,
                "expires_ms": expires,
            }
            return new

        return bool(self._update(add))

    def unrevoke(self, ident: str) -> bool:
        return bool(self._update(lambda entries: entries.pop(ident, None) is not None))

    def _update(self, change: Any) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / ".revoked.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = _live(_read(self.path))
            result = change(entries)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, sort_keys=True))
            tmp.chmod(0o600)
            tmp.replace(self.path)
        with self._lock:
            self._checked = -float("inf")  # this process sees its own change at once
        return result


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RevocationsUnreadable(f"revocation list {path} unreadable: {exc}") from None
    return data if isinstance(data, dict) else {}


def _live(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    now = int(time.time() * 1000)
    return {
        k: v
        for k, v in entries.items()
        if isinstance(v, dict) and (v.get("expires_ms") is None or int(v["expires_ms"]) > now)
    }
