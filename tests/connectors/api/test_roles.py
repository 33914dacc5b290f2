"""Every route of ``vigil api`` (upload API, admin, docs, metrics, dashboard) against every role,
on the real broker: each route states its permission, and a key of each role gets exactly the
answer the table below says (written by hand, not derived from the code's table)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.connectors.helpers import make_topics
from tests.dashboards.web.helpers import SESSION_SECRET
from vigil_app.api import create_app
from vigil_app.settings import AccessSettings, DashboardSettings, VigilSettings

KEYS = {
    "ingest": "role-ingest-0123456789",
    "viewer": "role-viewer-0123456789",
    "poi": "role-poi-0123456789",
    "admin": "role-admin-0123456789",
    "metrics": "role-metrics-0123456789",
}
VIEW = {"viewer", "poi"}
ANY = {"ingest", "viewer", "poi", "admin"}
NO_ID = "0" * 24
# (method, route path as registered) -> (concrete URL, roles let in)
TABLE: dict[tuple[str, str], tuple[str, set[str]]] = {
    ("POST", "/v1/frames"): ("/v1/frames", {"ingest"}),
    ("POST", "/v1/poi"): ("/v1/poi?person_id=p-1", {"poi"}),
    ("GET", "/v1/admin/keys"): ("/v1/admin/keys", {"admin"}),
    ("POST", "/v1/admin/revocations"): (f"/v1/admin/revocations?id={NO_ID}", {"admin"}),
    ("DELETE", "/v1/admin/revocations/{ident}"): (f"/v1/admin/revocations/{NO_ID}", {"admin"}),
    ("POST", "/v1/admin/login-keys"): ("/v1/admin/login-keys?role=viewer", {"admin"}),
    ("GET", "/openapi.json"): ("/openapi.json", ANY),
    ("GET", "/docs"): ("/docs", ANY),
    ("GET", "/metrics"): ("/metrics", {"admin", "metrics"}),
    ("POST", "/dashboard/logout"): ("/dashboard/logout", VIEW),
    ("GET", "/dashboard/"): ("/dashboard/", VIEW),
    ("GET", "/dashboard/poi"): ("/dashboard/poi", {"poi"}),
    ("GET", "/dashboard/static/{name:path}"): ("/dashboard/static/app.js", VIEW),
    ("GET", "/dashboard/api/cameras"): ("/dashboard/api/cameras", VIEW),
    ("GET", "/dashboard/api/cameras/{camera_id}/frame.jpg"): (
        "/dashboard/api/cameras/gate/frame.jpg",
        VIEW,
    ),
    ("GET", "/dashboard/api/frames/{frame_id}.jpg"): ("/dashboard/api/frames/gate-1.jpg", VIEW),
    ("GET", "/dashboard/api/alerts"): ("/dashboard/api/alerts", VIEW),
    ("GET", "/dashboard/api/alerts/stream"): ("/dashboard/api/alerts/stream", VIEW),
    ("GET", "/dashboard/api/charts/{name}"): ("/dashboard/api/charts/nope", VIEW),
    ("GET", "/dashboard/api/poi"): ("/dashboard/api/poi", {"poi"}),
    ("POST", "/dashboard/api/poi"): ("/dashboard/api/poi?person_id=p-1", {"poi"}),
    ("DELETE", "/dashboard/api/poi/{person_id}"): ("/dashboard/api/poi/bad!id", {"poi"}),
}
# open to anyone: the login form (rate-limited, capped) and the health check
OPEN = {("GET", "/v1/health"), ("GET", "/dashboard/login"), ("POST", "/dashboard/login")}
# endless responses: only their refusals are checked here
STREAMS = {"/dashboard/api/alerts/stream"}


@pytest.fixture
def role_settings(settings: VigilSettings) -> VigilSettings:
    access = AccessSettings(
        **{f"{role}_keys": (SecretStr(key),) for role, key in KEYS.items()},
        protect_metrics=True,
    )
    dashboard = DashboardSettings(session_secret=SecretStr(SESSION_SECRET))
    return settings.model_copy(update={"access": access, "dashboard": dashboard})


@pytest.fixture
def client(role_settings: VigilSettings) -> Iterator[TestClient]:
    make_topics(role_settings)
    app = create_app(role_settings)
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.dashboard.close()


def permission_of(route: APIRoute) -> Any:
    """The permission named by an ``allow`` dependency anywhere in the route's tree."""
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        found = getattr(dep.call, "permission", None)
        if found is not None:
            return found
        stack.extend(dep.dependencies)
    return None


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, into included routers (FastAPI keeps those as branches of their own)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def test_every_route_states_its_permission(client: TestClient) -> None:
    routes = {
        (method, r.path): r
        for r in api_routes(client.app.routes)  # type: ignore[attr-defined]
        for method in r.methods or ()
    }
    assert set(routes) == set(TABLE) | OPEN, "a route was added or removed: update TABLE"
    for name, route in routes.items():
        if name in OPEN:
            assert permission_of(route) is None, name
        else:
            assert permission_of(route) is not None, f"{name} states no permission"


def test_every_route_against_every_role(client: TestClient) -> None:
    headers = {"X-Vigil-Request": "1"}
    for (method, _path), (url, allowed) in TABLE.items():
        none = client.request(method, url, headers=headers, content=b"x")
        assert none.status_code in (401, 303), (method, url, none.status_code)
        for role, key in KEYS.items():
            if role in allowed and url in STREAMS:
                continue
            resp = client.request(method, url, headers={**headers, "X-API-Key": key}, content=b"x")
            if role in allowed:
                # past the role gate: a frame image still needs its signed URL (test_frame_urls)
                signed_only = resp.status_code == 403 and resp.json()["error"] == "bad_frame_url"
                assert signed_only or resp.status_code not in (401, 403), (role, url, resp.text)
                assert resp.status_code < 500, (role, method, url, resp.text)
            else:
                assert resp.status_code == 403, (role, method, url, resp.status_code)
                body = resp.json()
                assert body["error"] == "forbidden"
                assert "permission" in body["detail"]
    # the documents behind a key are complete and list every error a route answers
    doc = client.get("/openapi.json", headers={"X-API-Key": KEYS["viewer"]}).json()
    frames = doc["paths"]["/v1/frames"]["post"]["responses"]
    assert {"202", "400", "401", "403", "413", "415", "429", "503"} <= set(frames)
    assert {"401", "403", "413", "422", "429"} <= set(doc["paths"]["/v1/poi"]["post"]["responses"])
    assert "APIKeyHeader" in doc["components"]["securitySchemes"]
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {KEYS['metrics']}"})
    assert metrics.status_code == 200
    assert b"vigil_api_uploads" in metrics.content


def test_only_login_roles_open_a_dashboard_session(client: TestClient) -> None:
    for role, key in KEYS.items():
        client.cookies.clear()
        resp = client.post("/dashboard/login", data={"key": key})
        if role in VIEW:
            assert resp.status_code == 303, role
            assert client.get("/dashboard/api/cameras").status_code == 200
        else:  # an upload, admin or scrape key opens no session
            assert resp.status_code == 200, role
            assert "not valid" in resp.text
            assert "set-cookie" not in resp.headers
    # a session is a dashboard credential only: the upload API does not take the cookie
    client.cookies.clear()
    client.post("/dashboard/login", data={"key": KEYS["poi"]})
    cookie = client.cookies.get("vigil_session")
    assert cookie
    client.cookies.clear()
    client.cookies.set("vigil_session", cookie)  # no path: sent to /v1 as well
    assert client.post("/v1/poi?person_id=x", content=b"x").status_code == 401
    assert client.get("/dashboard/api/poi").status_code == 200
