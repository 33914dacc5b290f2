"""Dashboard sessions: the signed cookie issued at login for a key of a login role (``viewer``,
``poi``) or a one-time key. A session records which key made it (its fingerprint, or the
one-time key's id) and an id of its own, so revoking the key ends every session it made,
revoking the session id ends that one, and logging out revokes the session server-side too.
Who may do what is ``vigil.access``'s table, the same for keys in headers and for sessions."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from dashboards.web.settings import DashboardProcessSettings
from vigil.access import LOGIN_ROLES, Role, fingerprint
from vigil.sections_access import weak_secret
from vigil.web.access import Forbidden, Gate, NotAuthenticated, Principal
from vigil.web.tokens import OneTimeKeys, keys_file

__all__ = [
    "COOKIE",
    "POI",
    "VIEWER",
    "Auth",
    "Forbidden",
    "NotAuthenticated",
    "Session",
    "Viewer",
    "fingerprint",
]

log = logging.getLogger(__name__)
COOKIE = "vigil_session"
VIEWER, POI = Role.VIEWER, Role.POI
SALT = "vigil-dashboard-session"
Viewer = Principal  # the dashboard's name for whoever is looking


@dataclass(frozen=True)
class Session:
    cookie: str
    who: Principal
    one_time: bool


class Auth:
    def __init__(self, settings: DashboardProcessSettings, gate: Gate | None = None) -> None:
        cfg = settings.dashboard
        secret = cfg.session_secret.get_secret_value() if cfg.session_secret else ""
        problem = weak_secret(secret) if secret else ""
        if problem:  # settings refuse it too; this catches copies that skipped validation
            raise ValueError(f"dashboard.session_secret {problem}")
        # a random secret invalidates every session when the process restarts: safe default
        self._signer = URLSafeTimedSerializer(secret or secrets.token_urlsafe(32), salt=SALT)
        self.ttl_s = cfg.session_ttl_s
        self.cookie_secure = cfg.cookie_secure
        self.gate = gate or Gate(settings)
        self.once = OneTimeKeys(keys_file(settings))

    def role_of_key(self, key: str | None) -> Role | None:
        found = self.gate.from_key(key)
        return None if found is None else found.role

    def open_session(self, key: str) -> Session | None:
        """A session for a valid, unrevoked key of a login role (a one-time key is used up)."""
        found = self.gate.from_key(key)
        one_time = False
        if found is None:
            redeemed = self.once.redeem(key, keep_s=self.ttl_s)
            if redeemed is None or self.gate.revoked.is_revoked(redeemed.key_id):
                return None
            found, one_time = Principal(redeemed.role, redeemed.key_id), True
        if found.role not in LOGIN_ROLES:
            return None
        sid = secrets.token_hex(12)
        payload = {"r": str(found.role), "k": found.key_id, "o": int(one_time), "s": sid}
        cookie = str(self._signer.dumps(payload))
        return Session(cookie, Principal(found.role, found.key_id, sid), one_time)

    def login(self, key: str) -> str | None:
        session = self.open_session(key)
        return None if session is None else session.cookie

    def from_cookie(self, value: str | None) -> Principal | None:
        if not value:
            return None
        try:
            data = self._signer.loads(value, max_age=int(self.ttl_s))
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or data.get("r") not in LOGIN_ROLES:
            return None
        role, key_id, sid = Role(data["r"]), str(data.get("k", "")), str(data.get("s", ""))
        if not key_id or not sid:
            return None
        # a session dies with its key: removing a key from the settings logs its users out
        if not data.get("o") and self.gate.keys.role_of_fingerprint(key_id) != role:
            return None
        if self.gate.revoked.is_revoked(key_id, sid):
            return None
        return Principal(role, key_id, sid)

    def from_request(self, request: Request) -> Principal | None:
        return self.from_cookie(request.cookies.get(COOKIE))

    def viewer_of(self, request: Request) -> Principal | None:
        """A key in the headers, else the session cookie."""
        return self.gate.from_key(request.headers.get("x-api-key")) or self.from_request(request)

    def end_session(self, who: Principal) -> None:
        """Logging out: the session id is refused from now on, wherever the cookie went."""
        if who.session_id:
            self.gate.revoked.revoke(who.session_id, "session", "logged out", ttl_s=self.ttl_s)
