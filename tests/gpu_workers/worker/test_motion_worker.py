"""The motion gate in a real Worker on the real broker: a live camera's still frames come out
carried from its one detected frame, uploads of the same image are never gated."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import REGISTRY

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections
from vigil.testing import frame_event, produce_frames, provision
from vigil.testing.scenes import static_scene
from vigil_app.settings import VigilSettings

BASE_MS = 1_800_000_000_000


def motion_frames(camera: str, outcome: str) -> float:
    labels = {"camera": camera, "outcome": outcome}
    return REGISTRY.get_sample_value("vigil_worker_motion_frames_total", labels) or 0.0


def test_a_still_live_camera_is_carried_and_uploads_are_never_gated(
    settings: VigilSettings, tiny_model: str, run_worker: Any
) -> None:
    s = worker_settings(settings, tiny_model, max_wait_ms=50)
    provision(s)
    live, upload = f"lobby-{uuid.uuid4().hex[:6]}", f"up-{uuid.uuid4().hex[:6]}"
    scene = static_scene()
    still = scene.jpegs[:20]  # the passer-by walks in at frame 112: an empty street
    walking = scene.jpegs[112:115]
    events = [
        frame_event(live, i, jpeg, capture_ts_ms=BASE_MS + 40 * i, source_kind="CAMERA")
        for i, jpeg in enumerate(still + walking)
    ] + [
        frame_event(upload, i, still[0], capture_ts_ms=BASE_MS + 40 * i, source_kind="UPLOAD")
        for i in range(5)
    ]
    produce_frames(s, events)
    run_worker(s)
    out = {d["frame_id"]: d for d in detections(s, len(events))}
    assert sorted(out) == sorted(e["frame_id"] for e in events)  # one event per frame
    first = out[f"{live}-0"]
    assert first["carried_from"] is None
    assert first["detections"]  # the tiny detector's constant person
    for i in range(1, 20):  # 0.76 s of capture time: under max_skip_s, no motion
        ev = out[f"{live}-{i}"]
        assert ev["carried_from"] == f"{live}-0", i
        assert ev["detections"] == first["detections"]
        assert ev["sequence"] == i
        assert ev["capture_ts_ms"] == BASE_MS + 40 * i
        assert ev["faces_searched"] is False
    assert all(out[f"{live}-{i}"]["carried_from"] is None for i in (20, 21, 22))  # motion
    assert all(out[f"{upload}-{i}"]["carried_from"] is None for i in range(5))
    assert (motion_frames(live, "inferred"), motion_frames(live, "carried")) == (4, 19)
    assert motion_frames(upload, "inferred") == motion_frames(upload, "carried") == 0
