"""Signed, short-lived frame URLs: frame ids (``camera-sequence``) are guessable, so an image is
served only for a URL the dashboard's own pages and JSON APIs handed out, to the same role,
before it expires. The session is still needed on top: a URL alone opens nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Literal
from urllib.parse import quote, urlencode

from dashboards.web.settings import DashboardProcessSettings

Kind = Literal["frame", "camera"]
PREFIX = "/dashboard/api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FrameUrls:
    """HMAC-SHA256 over (kind, id, role, expiry). The key is derived from
    ``dashboard.session_secret`` (so replicas sharing it accept each other's URLs), else random
    per process, like the session cookies."""

    def __init__(self, secret: str, ttl_s: float) -> None:
        if secret:
            self._key = hmac.new(secret.encode(), b"vigil-dashboard-frame-urls", "sha256").digest()
        else:
            self._key = secrets.token_bytes(32)
        self.ttl_s = ttl_s

    @classmethod
    def from_settings(cls, settings: DashboardProcessSettings) -> FrameUrls:
        cfg = settings.dashboard
        secret = cfg.session_secret.get_secret_value() if cfg.session_secret else ""
        return cls(secret, cfg.frame_url_ttl_s)

    def _sig(self, kind: Kind, ident: str, role: str, exp: int) -> str:
        # JSON keeps the fields apart whatever characters an id holds
        message = json.dumps([kind, ident, role, exp], separators=(",", ":")).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def url(self, kind: Kind, ident: str, role: str, now: float | None = None) -> str:
        exp = int((time.time() if now is None else now) + self.ttl_s)
        query = urlencode({"exp": exp, "sig": self._sig(kind, ident, role, exp)})
        if kind == "frame":
            return f"{PREFIX}/frames/{quote(ident, safe='')}.jpg?{query}"
        return f"{PREFIX}/cameras/{quote(ident, safe='')}/frame.jpg?{query}"

    def refusal(
        self, kind: Kind, ident: str, role: str, exp: str, sig: str, now: float | None = None
    ) -> str | None:
        """Why this URL is refused, or None when it is good."""
        if not exp or not sig:
            return "unsigned frame URL: use the URL the dashboard's pages and API give"
        if not exp.isdigit() or len(exp) > 12:
            return "malformed expiry"
        expires = int(exp)
        t = time.time() if now is None else now
        # a signature is checked first: nothing about expiry is told for a forged URL
        if not hmac.compare_digest(sig.encode(), self._sig(kind, ident, role, expires).encode()):
            return "bad signature (tampered, or issued for another frame or role)"
        if expires < t:
            return "expired frame URL: reload the page"
        if expires > t + self.ttl_s + 60:
            return "expiry too far ahead"  # a key rotation leftover or a clock jump
        return None
