"""Roles and what they may do: one table for the upload API and the dashboard.

A key has exactly one role (``access.*_keys``); a route asks for one permission, and the table
below says which roles hold it. The roles do not nest: a POI key may see the dashboard because
the table grants ``poi`` the ``view`` permission, not because ``poi`` is "above" ``viewer``; an
admin key cannot upload or see faces at all."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import StrEnum

from pydantic import SecretStr

from vigil.sections_access import AccessSettings


class Role(StrEnum):
    INGEST = "ingest"
    VIEWER = "viewer"
    POI = "poi"
    ADMIN = "admin"
    METRICS = "metrics"


class Permission(StrEnum):
    UPLOAD = "upload"  # POST /v1/frames
    VIEW = "view"  # the dashboard: cameras, alerts, charts; faces blurred
    FACES = "faces"  # unblurred faces and POI identities in the dashboard
    WATCHLIST = "watchlist"  # /v1/poi, /dashboard/poi and /dashboard/api/poi
    ADMIN = "admin"  # /v1/admin: one-time keys, revocations
    DOCS = "docs"  # /docs and /openapi.json when access.protect_docs
    METRICS = "metrics"  # /metrics when access.protect_metrics


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INGEST: frozenset({Permission.UPLOAD, Permission.DOCS}),
    Role.VIEWER: frozenset({Permission.VIEW, Permission.DOCS}),
    Role.POI: frozenset({Permission.VIEW, Permission.FACES, Permission.WATCHLIST, Permission.DOCS}),
    Role.ADMIN: frozenset({Permission.ADMIN, Permission.DOCS, Permission.METRICS}),
    Role.METRICS: frozenset({Permission.METRICS}),
}

# roles a dashboard login (a key typed into the form, or a one-time key) may carry
LOGIN_ROLES = frozenset(role for role, perms in PERMISSIONS.items() if Permission.VIEW in perms)


def roles_with(permission: Permission) -> list[Role]:
    return [role for role, perms in PERMISSIONS.items() if permission in perms]


def fingerprint(key: str) -> str:
    """A key's public name (24 hex digits of its SHA-256): shown, logged and revoked by it."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class KeyRing:
    """The configured keys by role; lookups compare against every key in constant time."""

    def __init__(self, access: AccessSettings) -> None:
        self._keys: list[tuple[bytes, Role]] = [
            (key.get_secret_value().encode(), Role(role))
            for role, keys in access.keys_by_role().items()
            for key in keys
        ]
        self._by_fingerprint = {fingerprint(k.decode()): role for k, role in self._keys}

    def role_of(self, key: str | None) -> Role | None:
        if not key:
            return None
        raw = key.encode()
        found: Role | None = None
        for candidate, role in self._keys:  # no early exit: the time says nothing
            if hmac.compare_digest(raw, candidate):
                found = role
        return found

    def role_of_fingerprint(self, fp: str) -> Role | None:
        return self._by_fingerprint.get(fp)

    def listing(self) -> list[tuple[str, Role]]:
        """(fingerprint, role) of every configured key; never the key."""
        return sorted(self._by_fingerprint.items(), key=lambda item: (item[1], item[0]))

    def __bool__(self) -> bool:
        return bool(self._keys)


def key_matches(given: str | None, keys: Iterable[SecretStr]) -> bool:
    """Constant-time comparison against every key (no early exit)."""
    if not given:
        return False
    raw = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(raw, key.get_secret_value().encode())
    return found
