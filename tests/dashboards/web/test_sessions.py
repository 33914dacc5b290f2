"""Sessions that can be ended, and a login that costs an attacker: revoking a key (over
``/v1/admin`` or with ``vigil keys revoke`` from another process) refuses the key and ends the
sessions it made, one-time-key sessions included; logging out kills the cookie server-side; login
is rate-limited per address and its body is capped before it is parsed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from dashboards.web.auth import COOKIE
from tests.connectors.helpers import make_topics
from tests.dashboards.web.helpers import POI_KEY, SESSION_SECRET, VIEWER_KEY, serve
from vigil.access import fingerprint
from vigil.testing import wait_until
from vigil.web.tokens import OneTimeKeys, keys_file
from vigil_app.api import create_app
from vigil_app.cli import app as cli
from vigil_app.settings import AccessSettings, DashboardSettings, VigilSettings

ADMIN_KEY = "admin-key-0123456789"
ADMIN = {"X-API-Key": ADMIN_KEY}
CHECK_S = 0.2  # access.revocation_check_s: the bound on another process's revocation


@pytest.fixture
def sess_settings(settings: VigilSettings) -> VigilSettings:
    access = AccessSettings(
        viewer_keys=(SecretStr(VIEWER_KEY),),
        poi_keys=(SecretStr(POI_KEY),),
        admin_keys=(SecretStr(ADMIN_KEY),),
        revocation_check_s=CHECK_S,
    )
    dashboard = DashboardSettings(session_secret=SecretStr(SESSION_SECRET))
    return settings.model_copy(update={"access": access, "dashboard": dashboard})


@pytest.fixture
def app_client(sess_settings: VigilSettings) -> Iterator[TestClient]:
    make_topics(sess_settings)
    app = create_app(sess_settings)
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.dashboard.close()


def session_of(client: TestClient, key: str) -> str:
    client.cookies.clear()
    resp = client.post("/dashboard/login", data={"key": key})
    assert resp.status_code == 303, resp.text
    cookie = client.cookies.get(COOKIE)
    assert cookie
    client.cookies.clear()
    return str(cookie)


def cameras(client: TestClient, cookie: str | None = None, key: str | None = None) -> int:
    client.cookies.clear()
    if cookie:
        client.cookies.set(COOKIE, cookie, path="/dashboard")
    headers = {"X-API-Key": key} if key else {}
    status: int = client.get("/dashboard/api/cameras", headers=headers).status_code
    client.cookies.clear()
    return status


def env(settings: VigilSettings) -> dict[str, str]:
    return {
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_DASHBOARD__SESSION_SECRET": SESSION_SECRET,
    }


def test_revoking_a_key_ends_its_sessions_and_refuses_it(
    app_client: TestClient, sess_settings: VigilSettings
) -> None:
    before = session_of(app_client, VIEWER_KEY)  # made before the revocation
    other = session_of(app_client, POI_KEY)
    assert cameras(app_client, before) == 200
    fp = fingerprint(VIEWER_KEY)
    listed = app_client.get("/v1/admin/keys", headers=ADMIN).json()
    assert {"fingerprint": fp, "role": "viewer", "revoked": False} in listed["keys"]
    assert VIEWER_KEY not in str(listed)

    resp = app_client.post(f"/v1/admin/revocations?id={fp}&reason=lost", headers=ADMIN)
    assert resp.json() == {"revoked": fp, "kind": "key", "new": True}
    assert cameras(app_client, before) == 401  # its session: ended, at once in this process
    assert cameras(app_client, key=VIEWER_KEY) == 401  # the key itself
    refused = app_client.post("/dashboard/login", data={"key": VIEWER_KEY})
    assert refused.status_code == 200
    assert "set-cookie" not in refused.headers
    assert cameras(app_client, other) == 200  # other keys' sessions live on

    assert app_client.delete(f"/v1/admin/revocations/{fp}", headers=ADMIN).status_code == 200
    assert cameras(app_client, before) == 200  # the key is configured: it works again
    assert app_client.delete(f"/v1/admin/revocations/{fp}", headers=ADMIN).status_code == 404


def test_one_time_key_sessions_can_be_revoked_from_another_process(
    app_client: TestClient, sess_settings: VigilSettings
) -> None:
    once = OneTimeKeys(keys_file(sess_settings)).mint("poi")
    cookie = session_of(app_client, once)
    assert cameras(app_client, cookie) == 200
    listed = CliRunner().invoke(cli, ["keys", "list"], env=env(sess_settings))
    assert listed.exit_code == 0, listed.output
    assert fingerprint(once) in listed.output
    assert "used" in listed.output
    assert once not in listed.output
    # `vigil keys revoke --session` reads the cookie and revokes the key that made it
    result = CliRunner().invoke(
        cli, ["keys", "revoke", "--session", cookie], env=env(sess_settings)
    )
    assert result.exit_code == 0, result.output
    assert fingerprint(once) in result.output
    # another process wrote the list: seen within access.revocation_check_s
    wait_until(lambda: cameras(app_client, cookie) == 401, 10 * CHECK_S + 5, "revocation seen")
    # a static key revoked by fingerprint from the CLI, likewise
    poi = session_of(app_client, POI_KEY)
    result = CliRunner().invoke(
        cli, ["keys", "revoke", "--fingerprint", fingerprint(POI_KEY)], env=env(sess_settings)
    )
    assert result.exit_code == 0, result.output
    wait_until(lambda: cameras(app_client, poi) == 401, 10 * CHECK_S + 5, "revocation seen")
    assert cameras(app_client, key=POI_KEY) == 401
    bad = CliRunner().invoke(cli, ["keys", "revoke", "--fingerprint", "x"], env=env(sess_settings))
    assert bad.exit_code == 2


def test_logout_ends_the_session_server_side(app_client: TestClient) -> None:
    cookie = session_of(app_client, VIEWER_KEY)
    app_client.cookies.set(COOKIE, cookie, path="/dashboard")
    assert app_client.post("/dashboard/logout").status_code == 303
    assert cameras(app_client, cookie) == 401  # a copy of the cookie is dead too
    assert cameras(app_client, session_of(app_client, VIEWER_KEY)) == 200  # the key is not


def test_admin_mints_one_time_keys(app_client: TestClient) -> None:
    minted = app_client.post("/v1/admin/login-keys?role=poi&hours=1", headers=ADMIN)
    assert minted.status_code == 201
    body = minted.json()
    assert body["key_id"] == fingerprint(body["key"])
    assert cameras(app_client, session_of(app_client, body["key"])) == 200
    again = app_client.post("/dashboard/login", data={"key": body["key"]})
    assert "not valid" in again.text  # once only
    assert app_client.post("/v1/admin/login-keys?role=admin", headers=ADMIN).status_code == 422


def test_login_is_rate_limited_per_address(sess_settings: VigilSettings) -> None:
    dashboard = sess_settings.dashboard.model_copy(
        update={"login_burst": 3, "login_per_minute": 0.5}
    )
    app = create_app(sess_settings.model_copy(update={"dashboard": dashboard}))
    make_topics(sess_settings)
    with TestClient(app, follow_redirects=False) as client:
        for _ in range(3):  # dashboard.login_burst
            assert client.post("/dashboard/login", data={"key": "guess"}).status_code == 200
        limited = client.post("/dashboard/login", data={"key": VIEWER_KEY})
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert 100 <= int(limited.headers["Retry-After"]) <= 120  # one attempt per 2 minutes
        assert "set-cookie" not in limited.headers  # even the right key waits
        # another address has its own allowance
        other = TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000))
        assert other.post("/dashboard/login", data={"key": VIEWER_KEY}).status_code == 303
    app.state.dashboard.close()


def test_login_body_is_capped_before_parsing(app_client: TestClient) -> None:
    cap = 4096  # dashboard.login_max_bytes
    big = app_client.post("/dashboard/login", data={"key": "k" * (cap + 10)})
    assert big.status_code == 413
    assert big.json()["error"] == "body_too_large"
    files = {"file": ("x.bin", b"\0" * 200_000)}
    multipart = app_client.post("/dashboard/login", data={"key": VIEWER_KEY}, files=files)
    assert multipart.status_code == 413
    assert "set-cookie" not in multipart.headers


def raw_post(base: str, head: str, body: bytes) -> bytes:
    """Send a request by hand and read the answer without sending the rest of the body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_oversized_login_is_refused_without_reading_it(sess_settings: VigilSettings) -> None:
    """A declared 1 GiB multipart body gets its 413 after 1 KiB was sent: the server neither
    waits for nor spools the rest (it would hang here if it did)."""
    make_topics(sess_settings)
    with serve(sess_settings) as base:
        declared = (
            "POST /dashboard/login HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {2**30}\r\n"
        )
        answer = raw_post(base, declared, b"--b\r\n" + b"\0" * 1024)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        chunked = (
            "POST /dashboard/login HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            "Transfer-Encoding: chunked\r\n"
        )
        piece = b"\0" * 8192
        body = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        answer = raw_post(base, chunked, body)  # 8 KiB sent, no final chunk: still an answer
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
