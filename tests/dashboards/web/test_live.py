"""The live state's pure logic (no broker): camera rows from frames, detections and the ingest
status file, incident grouping, frames rendered from raw pixels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from dashboards.web.live import LiveState, incidents
from dashboards.web.render import annotate, decode
from vigil.blobs import BlobResolver
from vigil.testing import samples
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def frame(camera: str, seq: int, ts: int) -> dict[str, object]:
    image = bytes(np.full((48, 64), 200, np.uint8).tobytes())
    return {
        **samples.frame_event(seq, camera),
        "frame_id": f"{camera}-{seq}",
        "capture_ts_ms": ts,
        "width": 64,
        "height": 48,
        "encoding": "RAW_GRAY8",
        "image": image,
    }


def test_camera_rows_pair_frames_and_detections_in_any_order(tmp_path: Path) -> None:
    live = LiveState(VigilSettings(data_dir=tmp_path))
    det = {**samples.detection_event(), "frame_id": "gate-1", "camera_id": "gate"}
    live.apply(Topic.DETECTIONS, det)  # before its frame
    for seq in range(5):
        live.apply(Topic.FRAMES, frame("gate", seq, 1_000_000 + seq * 200))
    (row,) = live.camera_rows()
    assert row["camera_id"] == "gate"
    assert row["fps"] == 5.0
    assert row["labels"] == {"person": 1, "car": 1}
    assert row["frame_id"] == "gate-1"  # the newest frame that has detections
    assert row["state"] == "streaming"
    shown = live.display_frame("gate")
    assert shown is not None
    assert shown[1] is not None
    assert shown[1]["frame_id"] == "gate-1"


def test_ingest_status_file_gives_the_camera_state(tmp_path: Path) -> None:
    status = {
        "updated_ts_ms": int(time.time() * 1000),
        "cameras": [{"id": "lobby", "state": "backing_off"}, {"id": "yard", "state": "failed"}],
    }
    (tmp_path / "ingest").mkdir()
    (tmp_path / "ingest" / "status.json").write_text(json.dumps(status))
    live = LiveState(VigilSettings(data_dir=tmp_path))
    rows = {r["camera_id"]: r["state"] for r in live.camera_rows()}
    assert rows == {"lobby": "backing_off", "yard": "failed"}
    status["updated_ts_ms"] = 0  # a stale file (ingest gone) is ignored
    (tmp_path / "ingest" / "status.json").write_text(json.dumps(status))
    assert live.camera_rows() == []


def test_incidents_group_alerts_newest_first() -> None:
    base = samples.alert()
    alerts = [
        {**base, "incident_id": "a", "alert_ts_ms": 10, "severity": "LOW"},
        {**base, "incident_id": "b", "alert_ts_ms": 20, "severity": "MEDIUM"},
        {**base, "incident_id": "a", "alert_ts_ms": 30, "severity": "HIGH", "alert_id": "x"},
    ]
    grouped = incidents(alerts)
    assert [(i["incident_id"], i["count"], i["severity"]) for i in grouped] == [
        ("a", 2, "HIGH"),
        ("b", 1, "MEDIUM"),
    ]
    assert grouped[0]["latest"]["alert_id"] == "x"
    assert (grouped[0]["first_ts_ms"], grouped[0]["last_ts_ms"]) == (10, 30)


def test_raw_frames_render_scaled_with_boxes(tmp_path: Path) -> None:
    image = decode(frame("gate", 1, 0), BlobResolver.from_settings(VigilSettings()), 10**6)
    assert image.shape == (48, 64, 3)
    det = samples.detection_event()["detections"]
    jpeg = annotate(image, det, blur_faces=True)
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert shown is not None
    assert shown.shape[1] == 320  # scaled up to stay readable
    assert shown.std() > 5  # boxes and labels drawn on a flat grey frame
