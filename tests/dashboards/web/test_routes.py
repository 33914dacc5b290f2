"""The dashboard's routes against the real broker: nothing without a key or session, viewers
see blurred faces and no POI identities, bad input (forged cookies, oversized uploads, path
traversal) is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from dashboards.web.auth import COOKIE, POI, fingerprint
from dashboards.web.routes import router as dashboard_router
from tests.dashboards.web.helpers import (
    FACE_BOX,
    POI_KEY,
    VIEWER_KEY,
    astronaut_jpeg,
    dashboard_settings,
    seed,
)
from vigil.testing import read_topic, wait_until
from vigil.topics import Topic
from vigil_app.api import create_app
from vigil_app.settings import VigilSettings

MAX_UPLOAD = 200_000


@pytest.fixture
def dash_settings(settings: VigilSettings) -> VigilSettings:
    return dashboard_settings(settings, max_upload_bytes=MAX_UPLOAD)


@pytest.fixture
def seeded(dash_settings: VigilSettings) -> dict[str, Any]:
    return seed(dash_settings)


@pytest.fixture
def client(dash_settings: VigilSettings, seeded: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(dash_settings)
    with TestClient(app, follow_redirects=False) as c:
        yield c
    app.state.dashboard.close()


def log_in(client: TestClient, key: str) -> None:
    resp = client.post("/dashboard/login", data={"key": key})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/dashboard/"
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie


def wait_for_camera(client: TestClient, camera: str) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        rows = client.get("/dashboard/api/cameras").json()["cameras"]
        return next((r for r in rows if r["camera_id"] == camera and r["labels"]), None)

    try:
        return dict(wait_until(shown, 30, interval_s=0.2))
    except TimeoutError:
        raise AssertionError(f"camera {camera} not shown") from None


def concrete(path: str) -> str:
    return (
        path.replace("{camera_id}", "gate")
        .replace("{frame_id}", "gate-1")
        .replace("{person_id}", "p-9")
        .replace("{name:path}", "app.js")
        .replace("{name}", "alerts")
    )


def test_every_route_refuses_without_a_key_or_with_a_forged_cookie(
    client: TestClient, dash_settings: VigilSettings
) -> None:
    routes = [
        (method, concrete(r.path))
        for r in dashboard_router.routes
        if isinstance(r, APIRoute)
        for method in sorted(r.methods or ())
    ]
    assert len(routes) >= 14
    # forged: right shape, wrong secret, claiming the POI role of a real key
    forged = URLSafeTimedSerializer("guessed", salt="vigil-dashboard-session").dumps(
        {"r": POI, "k": fingerprint(POI_KEY)}
    )
    for cookies in ({}, {COOKIE: forged}, {COOKIE: "x" * 40}):
        client.cookies.clear()
        for name, value in cookies.items():
            client.cookies.set(name, value, path="/dashboard")
        for method, path in routes:
            if path == "/dashboard/login":
                continue
            resp = client.request(method, path, headers={"X-Vigil-Request": "1"})
            if path.startswith("/dashboard/api/") or method != "GET":
                assert resp.status_code == 401, (method, path, resp.status_code)
            else:
                assert resp.status_code == 303, (method, path, resp.status_code)
                assert resp.headers["location"] == "/dashboard/login"
            assert b"gate" not in resp.content
            assert b"lobby-after-hours" not in resp.content
        for method, path in (("POST", "/v1/poi?person_id=x"), ("POST", "/v1/frames")):
            assert client.request(method, path, content=b"x").status_code == 401
    assert client.get("/dashboard/api/cameras", headers={"X-API-Key": "wrong"}).status_code == 401
    refused = client.post("/dashboard/login", data={"key": "wrong"})
    assert refused.status_code == 200
    assert "not valid" in refused.text
    assert "set-cookie" not in refused.headers


def face_change(jpeg: bytes) -> float:
    """Mean absolute difference inside the face box (its border excluded) to the original."""
    original: Any = cv2.imdecode(np.frombuffer(astronaut_jpeg()[0], np.uint8), cv2.IMREAD_COLOR)
    shown: Any = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == original.shape
    h, w = original.shape[:2]
    x0, x1 = int(FACE_BOX["x_min"] * w) + 8, int(FACE_BOX["x_max"] * w) - 8
    y0, y1 = int(FACE_BOX["y_min"] * h) + 20, int(FACE_BOX["y_max"] * h) - 8
    a = original[y0:y1, x0:x1].astype(np.int16)
    b = shown[y0:y1, x0:x1].astype(np.int16)
    return float(np.abs(a - b).mean())


def test_viewer_sees_blurred_faces_and_no_poi_identity(
    client: TestClient, seeded: dict[str, Any]
) -> None:
    log_in(client, VIEWER_KEY)
    row = wait_for_camera(client, "gate")
    assert row["labels"] == {"person": 1, "face": 1}
    assert row["frame_id"] == seeded["frame"]["frame_id"]
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert 'data-camera="gate"' in page.text
    assert "viewer: faces blurred" in page.text
    assert "Content-Security-Policy" in page.headers
    viewer_jpeg = client.get(row["frame_url"])
    assert viewer_jpeg.headers["content-type"] == "image/jpeg"
    # the seeded detections predate faces_searched: not checked, so blurred whole
    assert viewer_jpeg.headers["x-vigil-privacy"] == "blurred-whole"
    alerts = client.get("/dashboard/api/alerts").json()
    (incident,) = alerts["incidents"]
    assert incident["incident_id"] == seeded["alert"]["incident_id"]
    assert incident["latest"]["poi_id"] == "(hidden)"
    # the POI pages and changes are for the POI role
    assert client.get("/dashboard/poi").status_code == 403
    assert client.get("/dashboard/api/poi").status_code == 403
    assert (
        client.delete("/dashboard/api/poi/p-9", headers={"X-Vigil-Request": "1"}).status_code == 403
    )

    # a viewer's URL is refused to a POI session and the other way round: URLs carry the role
    viewer_snapshot_url = incident["latest"]["frame_url"]
    client.cookies.clear()
    log_in(client, POI_KEY)
    assert client.get(viewer_snapshot_url).status_code == 403
    poi_row = wait_for_camera(client, "gate")
    poi_jpeg = client.get(poi_row["frame_url"])
    assert poi_jpeg.headers["x-vigil-privacy"] == "unblurred"
    snapshot = client.get(client.get("/dashboard/api/alerts").json()["alerts"][0]["frame_url"])
    assert snapshot.status_code == 200
    assert face_change(viewer_jpeg.content) > 4 * face_change(poi_jpeg.content)
    assert face_change(poi_jpeg.content) < 6  # JPEG re-encoding only
    assert client.get("/dashboard/api/alerts").json()["alerts"][0]["poi_id"] == "p-9"
    assert "POI role: faces shown" in client.get("/dashboard/").text
    # ids alone open nothing: unsigned URLs are refused, signed ones of unknown frames are 404
    assert client.get(f"/dashboard/api/frames/{seeded['frame']['frame_id']}.jpg").status_code == 403
    assert client.get("/dashboard/api/cameras/gate/frame.jpg").status_code == 403
    urls = client.app.state.dashboard.frames.urls  # type: ignore[attr-defined]
    assert client.get(urls.url("frame", "unknown", POI)).status_code == 404


def test_changes_need_the_request_header(client: TestClient) -> None:
    """A cross-site form can carry the cookie but not a custom header."""
    log_in(client, POI_KEY)
    assert client.delete("/dashboard/api/poi/p-9").status_code == 403
    assert client.post("/dashboard/api/poi?person_id=x", content=b"x").status_code == 403


def test_oversized_poi_upload_is_refused_and_nothing_published(
    client: TestClient, dash_settings: VigilSettings
) -> None:
    log_in(client, POI_KEY)
    big = b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD + 1)
    headers = {"X-Vigil-Request": "1"}
    raw = client.post("/dashboard/api/poi?person_id=big", content=big, headers=headers)
    assert raw.status_code == 413
    assert raw.json()["error"] == "body_too_large"
    form = client.post(
        "/dashboard/api/poi?person_id=big", files=[("file", ("big.png", big))], headers=headers
    )
    assert form.status_code == 413
    assert (
        client.post(
            "/dashboard/api/poi?person_id=../../etc", content=b"x", headers=headers
        ).status_code
        == 422
    )
    assert read_topic(dash_settings, Topic.POI, decode=False) == []


TRAVERSALS = [
    "/dashboard/static/../routes.py",
    "/dashboard/static/..%2froutes.py",
    "/dashboard/static/%2e%2e/%2e%2e/pyproject.toml",
    "/dashboard/static/..%2f..%2f..%2fpyproject.toml",
    "/dashboard/static//etc/passwd",
    "/dashboard/static/%2fetc%2fpasswd",
    "/dashboard/static/..\\routes.py",
    "/dashboard/static/templates/base.html",
    "/dashboard/static/",
    "/dashboard/static/app.js%00.png",
    "/dashboard/static/.hidden",
]


def test_path_traversal_on_static_files_is_refused(client: TestClient) -> None:
    log_in(client, VIEWER_KEY)
    for path in TRAVERSALS:
        resp = client.get(path)
        # 404 from the static route, or a redirect/404 where the URL normalises out of it
        assert resp.status_code in (404, 303, 307), (path, resp.status_code)
        for secret in (b"def mount", b"[project]", b"root:", b"{% block"):
            assert secret not in resp.content, path
    ok = client.get("/dashboard/static/app.js")
    assert ok.status_code == 200
    assert b"EventSource" in ok.content


def test_static_folder_has_only_served_types() -> None:
    from dashboards.web.routes import STATIC, STATIC_TYPES

    assert {p.suffix for p in Path(STATIC).iterdir()} <= set(STATIC_TYPES)
