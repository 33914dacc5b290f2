"""The worker against the real broker and the real default detector (SSD-MobileNet v2)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import cv2
import numpy as np
import pytest

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections
from vigil.blobs import default_store
from vigil.testing import bikes_jpegs, frame_event, produce_frames, provision
from vigil.testing.media import still
from vigil_app.settings import VigilSettings


def test_n_frames_in_n_detection_events_out_in_camera_order(
    settings: VigilSettings, run_worker: Any
) -> None:
    s = worker_settings(
        settings,
        "ssd_mobilenet_v2_coco",
        partitions=2,
        max_wait_ms=50,
    )
    provision(s)
    jpegs = bikes_jpegs(30, (320, 136), step=8)
    events = [frame_event(f"cam{i % 3}", i // 3, jpeg) for i, jpeg in enumerate(jpegs)]
    produce_frames(s, events)
    run_worker(s)
    out = detections(s, len(events))
    assert sorted(d["frame_id"] for d in out) == sorted(e["frame_id"] for e in events)
    per_camera: dict[str, list[int]] = defaultdict(list)
    for d in out:
        per_camera[d["camera_id"]].append(d["sequence"])
    assert all(seqs == sorted(seqs) for seqs in per_camera.values())
    assert {len(v) for v in per_camera.values()} == {10}
    first = out[0]
    assert first["model_name"] == "ssd_mobilenet_v2_coco"
    assert "+" in first["model_version"]
    assert (first["frame_width"], first["frame_height"]) == (320, 136)
    assert 0 < first["image_stats"]["brightness"] < 1
    assert first["image_stats"]["sharpness"] > 0
    assert first["image_stats"]["dhash"] is not None
    # bikes.mp4 shows cyclists and cars: the real detector finds them
    labels = [det["label"] for d in out for det in d["detections"]]
    assert labels.count("person") >= 5
    assert "car" in labels


def test_face_cascade_runs_for_face_cameras_and_tagged_frames_only(
    settings: VigilSettings, run_worker: Any
) -> None:
    s = worker_settings(settings, "ssd_mobilenet_v2_coco", face_cameras=("poi-cam",))
    provision(s)
    ok, buf = cv2.imencode(".jpg", still("grace_hopper"), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    jpeg = buf.tobytes()
    blob_uri = default_store(s).put("tagged-0.jpg", jpeg)  # and through a claim check
    events = [
        frame_event("poi-cam", 0, jpeg),  # listed in worker.face_cameras
        frame_event("lobby", 0, b"", image=None, image_uri=blob_uri, tags={"faces": "1"}),
        frame_event("street", 0, jpeg),  # neither: no face models run
    ]
    produce_frames(s, events)
    run_worker(s)
    out = {d["frame_id"]: d for d in detections(s, 3)}
    assert set(out) == {"poi-cam-0", "lobby-0", "street-0"}
    for frame_id in ("poi-cam-0", "lobby-0"):
        assert out[frame_id]["faces_searched"] is True, frame_id
        # faces the quality gate turned away come without an embedding (blurred all the same)
        found = [d for d in out[frame_id]["detections"] if d["label"] == "face"]
        faces = [d for d in found if d["embedding"] is not None]
        assert len(faces) == 1, frame_id
        embedding = np.asarray(faces[0]["embedding"], np.float32)
        assert embedding.shape == (1024,)
        assert float(np.linalg.norm(embedding)) == pytest.approx(1.0, abs=1e-3)
        assert any(d["label"] == "person" for d in out[frame_id]["detections"])
    assert not [d for d in out["street-0"]["detections"] if d["label"] == "face"]
    assert out["street-0"]["faces_searched"] is False  # the dashboard blurs it whole
    assert all(d["embedding"] is None for d in out["street-0"]["detections"])
