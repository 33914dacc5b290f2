"""Fail-closed privacy in real headless Chromium, with no worker running: frames of a face are
on ``vigil.frames`` (the real broker) but no DetectionEvent exists. A viewer's page shows the
frame, and the pixels it shows are blurred whole; its URLs are signed, an unsigned one is
refused in the same session; the POI role's page shows the face."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.dashboards.web.helpers import (
    FACE_BOX,
    POI_KEY,
    VIEWER_KEY,
    astronaut_frame,
    astronaut_jpeg,
    dashboard_settings,
    publish,
    serve,
)
from tests.dashboards.web.test_browser import browser, log_in, shot, wait_js
from vigil import kafka
from vigil.testing import samples
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings

__all__ = ["browser"]
BACKGROUND = {"x_min": 0.72, "y_min": 0.08, "x_max": 0.92, "y_max": 0.5}
CAMERA_IMG = "document.querySelector('figure[data-camera=\"door\"] img')"


def change(shown: Any, box: dict[str, float]) -> float:
    original: Any = cv2.imdecode(np.frombuffer(astronaut_jpeg()[0], np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == original.shape
    h, w = original.shape[:2]
    x0, x1 = int(box["x_min"] * w) + 8, int(box["x_max"] * w) - 8
    y0, y1 = int(box["y_min"] * h) + 20, int(box["y_max"] * h) - 8
    a, b = original[y0:y1, x0:x1].astype(np.int16), shown[y0:y1, x0:x1].astype(np.int16)
    return float(np.abs(a - b).mean())


def displayed(page: Any, selector_js: str) -> Any:
    """The pixels the page shows for an <img>, read back through a canvas (same origin)."""
    data_url = page.evaluate(
        f"(() => {{ const img = {selector_js}; const c = document.createElement('canvas');"
        " c.width = img.naturalWidth; c.height = img.naturalHeight;"
        " c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); })()"
    )
    png = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


@pytest.mark.timeout(240)
def test_viewer_page_shows_frames_without_detections_blurred_whole(
    browser: Any, settings: VigilSettings, tmp_path: Path
) -> None:
    s = dashboard_settings(settings)
    ensure_topics(kafka.admin(s), topic_specs(s.topics))
    frame = astronaut_frame("door")  # no worker: vigil.detections stays empty
    alert = {
        **samples.alert(),
        "camera_id": "door",
        "frame_id": frame["frame_id"],
        "alert_id": f"a-{uuid.uuid4().hex[:8]}",
        "incident_id": f"i-{uuid.uuid4().hex[:8]}",
        "alert_ts_ms": int(time.time() * 1000),
    }
    publish(s, Topic.FRAMES, [frame])
    publish(s, Topic.ALERTS, [alert])
    with serve(s) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(page, base, VIEWER_KEY)
        wait_js(page, f"{CAMERA_IMG}?.naturalWidth === 512")
        src = page.get_attribute('figure[data-camera="door"] img', "src")
        assert "exp=" in src
        assert "sig=" in src
        # what the page shows: the face and the background alike are gone
        shown = displayed(page, CAMERA_IMG)
        assert change(shown, FACE_BOX) > 20
        assert change(shown, BACKGROUND) > 10
        fetched = page.request.get(base + src)  # the session's cookie, as the <img> sent it
        assert fetched.status == 200
        assert fetched.headers["x-vigil-privacy"] == "blurred-whole"
        # the incident's snapshot too, through its own signed URL
        snap = f"document.querySelector('tr[data-incident=\"{alert['incident_id']}\"] img.snap')"
        wait_js(page, f"{snap}?.naturalWidth === 512")
        assert change(displayed(page, snap), FACE_BOX) > 20
        shot(page, tmp_path, "viewer-unchecked")
        # the frame id alone opens nothing, even inside the session
        unsigned = page.request.get(f"{base}/dashboard/api/frames/{frame['frame_id']}.jpg")
        assert unsigned.status == 403
        assert unsigned.json()["error"] == "bad_frame_url"

        poi = browser.new_page(viewport={"width": 1400, "height": 1000})
        log_in(poi, base, POI_KEY)
        wait_js(poi, f"{CAMERA_IMG}?.naturalWidth === 512")
        assert change(displayed(poi, CAMERA_IMG), FACE_BOX) < 6  # the POI role sees the face
        # the viewer's URL is not the POI's: it is refused in the POI session
        assert poi.request.get(base + src).status == 403
