"""Person ids never reach a log line: a keyed hash stands for them, so there is nothing to
erase from logs. With ``alerting.log_pseudonym_key`` set, one person has the same pseudonym in
every process (lines can be linked by whoever holds the key); without it the key is random per
process, and a pseudonym links the lines of one run only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from pydantic import SecretStr

_PROCESS_KEY = secrets.token_bytes(32)


class Pseudonyms:
    def __init__(self, key: SecretStr | None = None) -> None:
        self._key = key.get_secret_value().encode() if key is not None else _PROCESS_KEY

    def __call__(self, person_id: str | None) -> str | None:
        if person_id is None:
            return None
        digest = hmac.new(self._key, person_id.encode(), hashlib.sha256).hexdigest()
        return f"poi~{digest[:16]}"

    def alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The alert as it may be logged: its POI id replaced by the pseudonym."""
        if alert.get("poi_id") is None:
            return alert
        return {**alert, "poi_id": self(str(alert["poi_id"]))}
