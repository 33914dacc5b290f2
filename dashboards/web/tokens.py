"""One-time login keys: minted by ``make demo`` or ``vigil dashboard login-key`` in one process,
redeemed once by the dashboard in another. Only SHA-256 digests are stored."""

from __future__ import annotations

import fcntl
import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

from vigil.settings import VigilSettings


def keys_file(settings: VigilSettings) -> Path:
    return settings.data_dir / "dashboard" / "login-keys.json"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class OneTimeKeys:
    """A small JSON file of ``digest -> {role, expires_ms}``, rewritten under an flock."""

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
        key = "once-" + secrets.token_urlsafe(24)
        expires = int((time.time() + ttl_s) * 1000)

        def add(entries: dict[str, dict[str, Any]]) -> None:
            entries[_digest(key)] = {"role": role, "expires_ms": expires}

        self._update(add)
        return key

    def redeem(self, key: str) -> str | None:
        """The key's role, and the key is gone; None for unknown, used or expired keys."""
        if not key.startswith("once-") or not self.path.exists():
            return None

        def take(entries: dict[str, dict[str, Any]]) -> str | None:
            entry = entries.pop(_digest(key), None)
            return None if entry is None else str(entry["role"])

        role: str | None = self._update(take)
        return role
