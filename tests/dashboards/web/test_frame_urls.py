"""The image routes against the real broker: a frame with searched faces is shown with its faces
blurred, a frame no worker has seen (no DetectionEvent) is blurred whole or withheld, and only
signed, unexpired URLs of the session's role are served (with the session, never without)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from dashboards.web.auth import POI, VIEWER
from dashboards.web.signing import FrameUrls
from tests.dashboards.web.helpers import (
    FACE_BOX,
    POI_KEY,
    VIEWER_KEY,
    astronaut_frame,
    astronaut_jpeg,
    dashboard_settings,
    publish,
)
from vigil import kafka
from vigil.testing import samples, wait_until
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.api import create_app
from vigil_app.settings import DashboardSettings, VigilSettings

BACKGROUND = {"x_min": 0.72, "y_min": 0.08, "x_max": 0.92, "y_max": 0.5}


def change(jpeg: bytes, box: dict[str, float]) -> float:
    original: Any = cv2.imdecode(np.frombuffer(astronaut_jpeg()[0], np.uint8), cv2.IMREAD_COLOR)
    shown: Any = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    h, w = original.shape[:2]
    x0, x1 = int(box["x_min"] * w) + 8, int(box["x_max"] * w) - 8
    y0, y1 = int(box["y_min"] * h) + 20, int(box["y_max"] * h) - 8
    a, b = original[y0:y1, x0:x1].astype(np.int16), shown[y0:y1, x0:x1].astype(np.int16)
    return float(np.abs(a - b).mean())


@pytest.fixture
def frames(settings: VigilSettings) -> dict[str, dict[str, Any]]:
    """``gate``: a frame whose faces the worker searched (one face box); ``door``: a frame
    alone, as when the worker is stopped."""
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    gate, door = astronaut_frame("gate"), astronaut_frame("door")
    det = {**samples.detection_event(), "frame_id": gate["frame_id"], "camera_id": "gate"}
    det["detections"] = [{**det["detections"][0], "label": "face", "class_id": 0, "box": FACE_BOX}]
    det["faces_searched"] = True
    publish(settings, Topic.FRAMES, [gate, door])
    publish(settings, Topic.DETECTIONS, [det])
    return {"gate": gate, "door": door}


@contextmanager
def app_client(settings: VigilSettings, **dashboard: Any) -> Iterator[TestClient]:
    s = dashboard_settings(settings)
    cfg = {**s.dashboard.model_dump(), **dashboard}
    app = create_app(s.model_copy(update={"dashboard": DashboardSettings(**cfg)}))
    with TestClient(app, follow_redirects=False) as client:
        yield client
    app.state.dashboard.close()


def rows(client: TestClient, key: str) -> dict[str, dict[str, Any]]:
    """Camera rows once both cameras' frames are in memory (``gate`` with its detections)."""
    got: dict[str, dict[str, Any]] = {}

    def ready() -> bool:
        resp = client.get("/dashboard/api/cameras", headers={"X-API-Key": key})
        got.update({r["camera_id"]: r for r in resp.json()["cameras"]})
        return all(got.get(c, {}).get("frame_url") for c in ("gate", "door")) and bool(
            got["gate"]["labels"]
        )

    wait_until(ready, 30, "both cameras in the dashboard")
    return got


def test_viewer_images_fail_closed_and_need_a_signed_url(
    settings: VigilSettings, frames: dict[str, dict[str, Any]]
) -> None:
    with app_client(settings) as client:
        viewer = {"X-API-Key": VIEWER_KEY}
        found = rows(client, VIEWER_KEY)
        gate = client.get(found["gate"]["frame_url"], headers=viewer)
        assert gate.status_code == 200
        assert gate.headers["x-vigil-privacy"] == "faces-blurred"
        assert change(gate.content, FACE_BOX) > 20
        assert change(gate.content, BACKGROUND) < 6
        door = client.get(found["door"]["frame_url"], headers=viewer)  # no DetectionEvent
        assert door.headers["x-vigil-privacy"] == "blurred-whole"
        assert change(door.content, FACE_BOX) > 20
        assert change(door.content, BACKGROUND) > 10
        # the POI role sees the same frame sharp, through a URL signed for its role
        poi = {"X-API-Key": POI_KEY}
        door_poi = client.get(rows(client, POI_KEY)["door"]["frame_url"], headers=poi)
        assert door_poi.headers["x-vigil-privacy"] == "unblurred"
        assert change(door_poi.content, FACE_BOX) < 6
        assert client.get(found["door"]["frame_url"], headers=poi).status_code == 403

        urls: FrameUrls = client.app.state.dashboard.frames.urls  # type: ignore[attr-defined]
        frame_id = frames["door"]["frame_id"]
        good = urls.url("frame", frame_id, VIEWER)
        assert client.get(good, headers=viewer).status_code == 200
        refused = [
            f"/dashboard/api/frames/{frame_id}.jpg",  # guessed from the camera-sequence id
            f"/dashboard/api/frames/{frame_id}.jpg?exp=9999999999&sig=x",
            good.replace("sig=", "sig=A"),  # tampered
            good.replace(frame_id, frames["gate"]["frame_id"]),  # another frame
            urls.url("frame", frame_id, VIEWER, now=time.time() - 3600),  # expired
            urls.url("frame", frame_id, POI),  # another role
            "/dashboard/api/cameras/door/frame.jpg",
            # a frame's signature does not open the camera route of the same name
            "/dashboard/api/cameras/door/frame.jpg?"
            + urls.url("frame", "door", VIEWER).split("?")[1],
        ]
        for url in refused:
            resp = client.get(url, headers=viewer)
            assert resp.status_code in (403, 404), (url, resp.status_code)
            assert resp.headers["content-type"] == "application/json", url
            assert resp.json()["error"] in ("bad_frame_url", "not_found"), url
        assert client.get(refused[2], headers=viewer).json()["error"] == "bad_frame_url"
        # a signed URL opens nothing without the session or key
        assert client.get(good).status_code == 401


def test_withhold_policy_refuses_unchecked_frames(
    settings: VigilSettings, frames: dict[str, dict[str, Any]]
) -> None:
    with app_client(settings, unchecked_frames="withhold") as client:
        viewer = {"X-API-Key": VIEWER_KEY}
        found = rows(client, VIEWER_KEY)
        withheld = client.get(found["door"]["frame_url"], headers=viewer)
        assert withheld.status_code == 403
        assert withheld.json()["error"] == "faces_not_checked"
        shown = client.get(found["gate"]["frame_url"], headers=viewer)
        assert shown.headers["x-vigil-privacy"] == "faces-blurred"
        poi = client.get(rows(client, POI_KEY)["door"]["frame_url"], headers={"X-API-Key": POI_KEY})
        assert poi.headers["x-vigil-privacy"] == "unblurred"
