"""Who is looking: an API key in ``X-API-Key``, or the signed session cookie issued at login for
an API key or a one-time key. Keys from ``dashboard.poi_keys`` (and one-time POI keys) get the
POI role: faces unblurred, POI identities shown, the watch-list editable."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import SecretStr

from connectors.api.app import key_matches
from dashboards.web.tokens import OneTimeKeys, keys_file
from vigil.settings import VigilSettings

COOKIE = "vigil_session"
VIEWER, POI = "viewer", "poi"


class NotAuthenticated(Exception):
    """No valid key or session: pages redirect to the login form, API routes answer 401."""


class Forbidden(Exception):
    """Authenticated, but the route needs the POI role."""


@dataclass(frozen=True)
class Viewer:
    role: str

    @property
    def poi(self) -> bool:
        return self.role == POI


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class Auth:
    def __init__(self, settings: VigilSettings) -> None:
        cfg = settings.dashboard
        secret = cfg.session_secret.get_secret_value() if cfg.session_secret else ""
        # a random secret invalidates every session when the process restarts: safe default
        self._signer = URLSafeTimedSerializer(
            secret or secrets.token_urlsafe(32), salt="vigil-dashboard-session"
        )
        self.ttl_s = cfg.session_ttl_s
        self.cookie_secure = cfg.cookie_secure
        self._poi_keys: tuple[SecretStr, ...] = cfg.poi_keys
        self._keys: tuple[SecretStr, ...] = settings.ingest.api_keys
        self._roles = {fingerprint(k.get_secret_value()): VIEWER for k in self._keys}
        self._roles |= {fingerprint(k.get_secret_value()): POI for k in self._poi_keys}
        self.once = OneTimeKeys(keys_file(settings))

    def role_of_key(self, key: str | None) -> str | None:
        if key_matches(key, self._poi_keys):
            return POI
        if key_matches(key, self._keys):
            return VIEWER
        return None

    def login(self, key: str) -> str | None:
        """A session cookie value for a valid key (a one-time key is used up), else None."""
        role = self.role_of_key(key)
        if role is not None:
            return str(self._signer.dumps({"r": role, "k": fingerprint(key)}))
        role = self.once.redeem(key)
        if role is not None:
            return str(self._signer.dumps({"r": role, "k": "once"}))
        return None

    def from_cookie(self, value: str | None) -> Viewer | None:
        if not value:
            return None
        try:
            data = self._signer.loads(value, max_age=int(self.ttl_s))
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or data.get("r") not in (VIEWER, POI):
            return None
        # a session dies with its key: removing a key from the settings logs its users out
        if data.get("k") != "once" and self._roles.get(str(data.get("k"))) != data["r"]:
            return None
        return Viewer(str(data["r"]))

    def viewer_of(self, request: Request) -> Viewer | None:
        role = self.role_of_key(request.headers.get("x-api-key"))
        if role is not None:
            return Viewer(role)
        return self.from_cookie(request.cookies.get(COOKIE))
