"""Who is asking, and may they: every route of ``vigil api`` (upload API and dashboard) states
the permission it needs with ``Security(allow(Permission.X))``; the role table in
``vigil.access`` says which roles hold it.

A caller is a key (``X-API-Key``, or ``Authorization: Bearer`` for scrapers) or, under
``/dashboard/`` only, the dashboard's session cookie (resolved by ``dashboards.web.auth``). A
revoked key, one-time key or session is refused like an unknown one."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request, Response, Security
from fastapi.security import APIKeyHeader

from vigil.access import PERMISSIONS, KeyRing, Permission, Role, fingerprint, roles_with
from vigil.revocations import Revocations, RevocationsUnreadable, revocations_file
from vigil.settings import CoreSettings

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A key of a role the route allows (access.ingest_keys, viewer_keys, poi_keys, "
    "admin_keys); see each route's description.",
)

# the error answers of any route behind a key
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, wrong or revoked key"},
    403: {"description": "the key's role lacks the permission this route needs"},
    503: {"description": "the revocation list cannot be read: every key is refused"},
}


# The POST /v1/poi handler (request, principal, person id, display name, threshold), handed
# by the composition root to the dashboard, whose enrolment form goes through the same limits.
EnrollPoi = Callable[[Request, "Principal", str, str | None, float | None], Awaitable[Response]]


class NotAuthenticated(Exception):
    """No valid key or session: API routes answer 401, dashboard pages redirect to login."""


class Forbidden(Exception):
    """Authenticated, but the role lacks the permission (or a change lacks its header)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class GateUnavailable(Exception):
    """The revocation list cannot be read: nobody is let in until it can (fail closed)."""


@dataclass(frozen=True)
class Principal:
    role: Role
    key_id: str  # fingerprint of the key, or of the one-time key a session was made from
    session_id: str | None = None  # a dashboard session; None for a key in a header

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    @property
    def poi(self) -> bool:
        """May see faces unblurred and POI identities."""
        return self.can(Permission.FACES)


SessionResolver = Callable[[Request], Principal | None]


class Gate:
    """The app's keys, the shared revocation list and (when the dashboard is mounted) the
    session resolver."""

    def __init__(self, settings: CoreSettings) -> None:
        self.keys = KeyRing(settings.access)
        self.revoked = Revocations(
            revocations_file(settings.data_dir), settings.access.revocation_check_s
        )
        self.sessions: SessionResolver | None = None

    def from_key(self, key: str | None) -> Principal | None:
        role = self.keys.role_of(key)
        if role is None or key is None:
            return None
        fp = fingerprint(key)
        if self.revoked.is_revoked(fp):
            return None
        return Principal(role, fp)

    def principal(self, request: Request) -> Principal | None:
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else None
        found = self.from_key(key)
        if found is None and self.sessions and request.url.path.startswith("/dashboard/"):
            found = self.sessions(request)
        return found


def gate_of(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


@functools.cache
def allow(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """The dependency a route states its permission with; it runs before the body is read, so
    an unauthenticated request costs nothing. One function per permission (FastAPI runs it once
    per request however often it is named)."""
    holders = ", ".join(roles_with(permission))

    async def dependency(
        request: Request, _key: Annotated[str | None, Security(API_KEY)] = None
    ) -> Principal:
        try:
            who = gate_of(request).principal(request)
        except RevocationsUnreadable as exc:
            raise GateUnavailable(str(exc)) from None
        if who is None:
            raise NotAuthenticated()
        if not who.can(permission):
            raise Forbidden(f"needs the {permission} permission (roles: {holders})")
        request.state.principal = who
        return who

    dependency.__name__ = f"allow_{permission}"
    dependency.permission = permission  # type: ignore[attr-defined]  # read by the route audit
    return dependency


def principal_of(request: Request) -> Principal:
    """The caller ``allow`` let in (for routes that charge or log per key)."""
    who: Principal = request.state.principal
    return who
