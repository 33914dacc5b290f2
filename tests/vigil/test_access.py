"""The role model and its settings, without a server: who holds which permission, one role per
key, placeholder and weak secrets refused, the revocation list's cache bound, token buckets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import SecretStr, ValidationError

from vigil.access import LOGIN_ROLES, PERMISSIONS, KeyRing, Permission, Role, fingerprint
from vigil.revocations import Revocations, RevocationsUnreadable
from vigil.web.admin import LoginRole
from vigil.web.limits import TokenBuckets
from vigil_app.settings import AccessSettings, ConfigError, DashboardSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]

# the model, written out by hand: a change to vigil.access.PERMISSIONS must change this too
EXPECTED = {
    Role.INGEST: {Permission.UPLOAD, Permission.DOCS},
    Role.VIEWER: {Permission.VIEW, Permission.DOCS},
    Role.POI: {Permission.VIEW, Permission.FACES, Permission.WATCHLIST, Permission.DOCS},
    Role.ADMIN: {Permission.ADMIN, Permission.DOCS, Permission.METRICS},
    Role.METRICS: {Permission.METRICS},
}


def test_role_table() -> None:
    assert {role: set(perms) for role, perms in PERMISSIONS.items()} == EXPECTED
    assert {Role.VIEWER, Role.POI} == LOGIN_ROLES
    assert set(get_args(LoginRole)) == set(LOGIN_ROLES)
    # nobody both uploads and sees faces; the admin sees no dashboard
    assert not any({Permission.UPLOAD, Permission.FACES} <= p for p in PERMISSIONS.values())
    assert Permission.VIEW not in PERMISSIONS[Role.ADMIN]


def keys(*values: str) -> tuple[SecretStr, ...]:
    return tuple(SecretStr(v) for v in values)


def test_each_key_has_one_role() -> None:
    access = AccessSettings(
        ingest_keys=keys("ingest-0123456789"),
        viewer_keys=keys("viewer-0123456789"),
        poi_keys=keys("poi-0123456789"),
        admin_keys=keys("admin-0123456789"),
    )
    ring = KeyRing(access)
    assert ring.role_of("ingest-0123456789") == Role.INGEST
    assert ring.role_of("poi-0123456789") == Role.POI
    assert ring.role_of("admin-0123456789") == Role.ADMIN
    assert ring.role_of("poi-0123456789x") is None
    assert ring.role_of("") is None
    assert ring.role_of(None) is None
    assert ring.role_of_fingerprint(fingerprint("viewer-0123456789")) == Role.VIEWER
    named = ("ingest", "viewer", "poi", "admin")
    assert dict(ring.listing()) == {fingerprint(f"{n}-0123456789"): Role(n) for n in named}
    with pytest.raises(ValidationError, match="both viewer_keys and poi_keys"):
        AccessSettings(viewer_keys=keys("same-key-0123"), poi_keys=keys("same-key-0123"))
    with pytest.raises(ValidationError, match="placeholder"):
        AccessSettings(ingest_keys=keys("replace-with-a-long-random-key"))
    with pytest.raises(ValidationError, match="empty key"):
        AccessSettings(admin_keys=keys(" "))
    with pytest.raises(ValidationError, match="not a key fingerprint"):
        AccessSettings(trusted_uploaders=("ingest-0123456789",))
    AccessSettings(trusted_uploaders=(fingerprint("ingest-0123456789"),))


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))
    return dict(pairs)


def test_placeholder_and_short_session_secrets_are_refused() -> None:
    shipped = env_example()["VIGIL_DASHBOARD__SESSION_SECRET"]
    for secret in (shipped, "changeme", "secret", "CHANGE-ME-please-0123456789-abcdefgh", "short"):
        with pytest.raises(ValidationError, match="session_secret"):
            DashboardSettings(session_secret=SecretStr(secret))
    with pytest.raises(ValidationError, match="32 or more"):
        DashboardSettings(session_secret=SecretStr("a1b2c3d4e5f6g7h8i9j0"))
    with pytest.raises(ValidationError, match="distinct"):
        DashboardSettings(session_secret=SecretStr("ab" * 20))
    DashboardSettings(session_secret=SecretStr("kP3v9-QzX7_mN2wR8tY4uI6oA1sD5fG0hJ"))
    DashboardSettings(session_secret=None)
    DashboardSettings(session_secret=SecretStr(""))  # random per process


def test_env_example_as_shipped_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copying .env.example without changing it is refused, naming what to change."""
    for name, value in env_example().items():
        if name.startswith("VIGIL_"):
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "access" in message
    assert "placeholder" in message
    assert "session_secret" in message


def test_retired_settings_name_their_replacement() -> None:
    with pytest.raises(ConfigError, match=r"access\.ingest_keys"):
        load_settings(ingest={"api_keys": ["k-0123456789"]})
    with pytest.raises(ConfigError, match=r"access\.poi_keys"):
        load_settings(dashboard={"poi_keys": ["k-0123456789"]})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_revocations_reach_other_readers_within_the_check_interval(tmp_path: Path) -> None:
    path = tmp_path / "access" / "revoked.json"
    clock = Clock()
    writer = Revocations(path, check_s=2.0)
    reader = Revocations(path, check_s=2.0, clock=clock)
    assert not reader.is_revoked("a" * 24)  # first look: nothing there yet
    assert writer.revoke("a" * 24, "key", "test")
    assert not writer.revoke("a" * 24, "key", "again")  # already there
    assert writer.is_revoked("a" * 24)  # the writer sees its own at once
    clock.now += 1.9
    assert not reader.is_revoked("a" * 24)  # cached: within the bound
    clock.now += 0.2
    assert reader.is_revoked("a" * 24)  # past the bound: seen
    assert writer.unrevoke("a" * 24)
    assert not writer.unrevoke("a" * 24)
    clock.now += 2.1
    assert not reader.is_revoked("a" * 24)
    writer.revoke("b" * 24, "session", "logged out", ttl_s=-1)  # already expired
    assert "b" * 24 not in writer.entries()
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_unreadable_revocation_list_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "revoked.json"
    path.write_text("{not json")
    with pytest.raises(RevocationsUnreadable, match="unreadable"):
        Revocations(path).is_revoked("a" * 24)


def test_token_buckets() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate_per_s=0.5, burst=3, max_names=2, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(2.0)  # one token every 2 s
    assert buckets.take("b") == 0.0  # per name
    clock.now += 2.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(2.0)
    buckets.take("c")  # a third name: the least recently used bucket ("b") goes
    assert len(buckets._buckets) == 2
