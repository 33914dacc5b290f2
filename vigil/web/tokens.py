"""One-time login keys: minted by ``make demo``, ``vigil keys mint`` or an admin (``POST
/v1/admin/login-keys``) in one process, redeemed once by the dashboard in another. Only SHA-256
digests are stored. A redeemed key is kept (marked used) for as long as the session it made may
live, so ``vigil keys list`` shows it and its id (the key's fingerprint, which the session
carries) can be revoked to end that session."""

from __future__ import annotations

import fcntl
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil.access import LOGIN_ROLES, Role, fingerprint
from vigil.settings import CoreSettings


def keys_file(settings: CoreSettings) -> Path:
    return settings.data_dir / "dashboard" / "login-keys.json"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Redeemed:
    role: Role
    key_id: str  # the one-time key's fingerprint: sessions carry it, revocation names it


@dataclass(frozen=True)
class OneTimeKey:
    key_id: str
    role: str
    expires_ms: int
    used_ms: int | None


class OneTimeKeys:
    """A small JSON file of ``digest -> {role, expires_ms, used_ms}``, rewritten under an
    flock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _update(self, change: Any) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / ".login-keys.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries: dict[str, dict[str, Any]] = json.loads(self.path.read_text())
            except (FileNotFoundError, ValueError):
                entries = {}
            now = int(time.time() * 1000)
            entries = {k: v for k, v in entries.items() if int(v["expires_ms"]) > now}
            result = change(entries)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries))
            tmp.chmod(0o600)
            tmp.replace(self.path)
            return result

    def mint(self, role: str, ttl_s: float = 3600.0) -> str:
        if role not in LOGIN_ROLES:
            roles = sorted(map(str, LOGIN_ROLES))
            raise ValueError(f"a login key's role is one of {roles}, not {role!r}")
        key = "once-" + secrets.token_urlsafe(24)
        expires = int((time.time() + ttl_s) * 1000)

        def add(entries: dict[str, dict[str, Any]]) -> None:
            entries[_digest(key)] = {"role": str(role), "expires_ms": expires, "used_ms": None}

        self._update(add)
        return key

    def redeem(self, key: str, keep_s: float = 12 * 3600) -> Redeemed | None:
        """The key's role and id, and the key is used up; None for unknown, used or expired
        keys. The used entry is kept ``keep_s`` (the session's lifetime) for the listing."""
        if not key.startswith("once-") or not self.path.exists():
            return None
        now = int(time.time() * 1000)

        def take(entries: dict[str, dict[str, Any]]) -> Redeemed | None:
            entry = entries.get(_digest(key))
            if entry is None or entry.get("used_ms") or entry.get("role") not in LOGIN_ROLES:
                return None
            entry["used_ms"] = now
            entry["expires_ms"] = now + int(keep_s * 1000)
            return Redeemed(Role(entry["role"]), fingerprint(key))

        redeemed: Redeemed | None = self._update(take)
        return redeemed

    def listing(self) -> list[OneTimeKey]:
        entries: list[OneTimeKey] = self._update(
            lambda entries: [
                OneTimeKey(
                    digest[:24], str(v["role"]), int(v["expires_ms"]), v.get("used_ms") or None
                )
                for digest, v in entries.items()
            ]
        )
        return sorted(entries, key=lambda k: k.expires_ms)
