"""Sessions and keys, without a server: forged, tampered, expired and revoked cookies are
refused; a one-time key works once."""

from __future__ import annotations

import time
from pathlib import Path

from itsdangerous import URLSafeTimedSerializer
from pydantic import SecretStr

from dashboards.web.auth import POI, VIEWER, Auth, fingerprint
from vigil.web.tokens import OneTimeKeys
from vigil_app.settings import AccessSettings, DashboardSettings, VigilSettings

SECRET = "test-session-secret-0123456789-abcdefghij"  # noqa: S105


def make(
    tmp_path: Path,
    keys: tuple[str, ...] = ("v-key",),
    poi: tuple[str, ...] = ("p-key",),
    **dash: object,
) -> Auth:
    settings = VigilSettings(
        data_dir=tmp_path,
        access=AccessSettings(
            viewer_keys=tuple(SecretStr(k) for k in keys), poi_keys=tuple(SecretStr(k) for k in poi)
        ),
        dashboard=DashboardSettings(session_secret=SecretStr(SECRET), **dash),
    )
    return Auth(settings)


def test_keys_give_roles_and_sessions(tmp_path: Path) -> None:
    auth = make(tmp_path)
    assert auth.role_of_key("v-key") == VIEWER
    assert auth.role_of_key("p-key") == POI
    assert auth.role_of_key("nope") is None
    assert auth.role_of_key("") is None
    assert auth.login("nope") is None
    viewer = auth.from_cookie(auth.login("v-key"))
    poi = auth.from_cookie(auth.login("p-key"))
    assert (viewer and viewer.role, poi and poi.role) == (VIEWER, POI)


def test_forged_and_tampered_cookies_are_refused(tmp_path: Path) -> None:
    auth = make(tmp_path)
    good = auth.login("v-key")
    assert good is not None
    other = URLSafeTimedSerializer("another-secret", salt="vigil-dashboard-session")
    forged = other.dumps({"r": POI, "k": fingerprint("p-key")})
    assert auth.from_cookie(forged) is None
    # the payload changed to the POI role, signature kept
    payload, _, rest = good.partition(".")
    tampered = URLSafeTimedSerializer(SECRET, salt="x").dumps({"r": POI}).split(".")[0]
    assert auth.from_cookie(f"{tampered}.{rest}") is None
    assert auth.from_cookie(good[:-2] + ("AA" if not good.endswith("AA") else "BB")) is None
    assert auth.from_cookie("garbage") is None
    assert auth.from_cookie("") is None
    assert payload


def test_sessions_expire_and_die_with_their_key(tmp_path: Path) -> None:
    cookie = make(tmp_path).login("v-key")
    assert make(tmp_path, keys=("other",)).from_cookie(cookie) is None  # key removed
    short = make(tmp_path, session_ttl_s=1)
    old = short.login("v-key")
    time.sleep(2.1)
    assert short.from_cookie(old) is None


def test_one_time_key_works_once(tmp_path: Path) -> None:
    auth = make(tmp_path)
    key = OneTimeKeys(tmp_path / "dashboard" / "login-keys.json").mint(POI)
    assert "once-" in key
    assert key not in (tmp_path / "dashboard" / "login-keys.json").read_text()
    cookie = auth.login(key)
    viewer = auth.from_cookie(cookie)
    assert viewer is not None
    assert viewer.poi
    assert auth.login(key) is None  # used up
    expired = OneTimeKeys(tmp_path / "dashboard" / "login-keys.json").mint(VIEWER, ttl_s=-1)
    assert auth.login(expired) is None


def test_random_secret_when_none_is_set(tmp_path: Path) -> None:
    settings = VigilSettings(
        data_dir=tmp_path, access=AccessSettings(viewer_keys=(SecretStr("k"),))
    )
    first, second = Auth(settings), Auth(settings)
    assert second.from_cookie(first.login("k")) is None  # a restart logs everyone out
