"""Persons of interest end to end with real video and models: the carphone man is enrolled
from one frame with `vigil poi enroll`; the face cascade runs on later frames (as a worker
would) and their DetectionEvents raise one POI alert for him; the astronaut and Grace Hopper
never match; after `vigil poi remove` he no longer matches. Bad enrolment images are refused
and publish nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from tests.streams.alerting.helpers import VIGIL
from tests.streams.alerting.synth import T0
from vigil.testing import (
    AlertsProcess,
    poll_until,
    process_env,
    provision,
    publish_detections,
    read_topic,
    wait_committed,
)
from vigil.testing.media import Image, frames, still
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

RULES = """
poi:
  threshold: 0.6
  near_miss: 0.3
  confirm_k: 3
  confirm_n: 5
"""


def vigil(settings: VigilSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIGIL, *args], env=process_env(settings), capture_output=True, text=True, timeout=120
    )


def face_event(cascade: FaceCascade, camera: str, seq: int, image: Image) -> dict[str, Any]:
    """What a worker publishes for a frame: faces that passed the gate, with embeddings."""
    result = cascade(image)
    height, width = image.shape[:2]
    dets = [
        {
            "label": "face",
            "class_id": 0,
            "score": f.detection.score,
            "box": f.detection.box.as_dict(),
            "embedding": [float(v) for v in f.embedding],
            "track_id": None,
        }
        for f in result.faces
    ]
    ts = T0 + seq * 200
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": ts,
        "inference_ts_ms": ts + 20,
        "model_name": result.detector.name,
        "model_version": result.detector.event_version,
        "frame_width": width,
        "frame_height": height,
        "detections": dets,
        "image_stats": {"brightness": 0.5, "contrast": 0.2, "sharpness": 10.0, "dhash": None},
    }


def wait_for_log(app: AlertsProcess, text: str, timeout_s: float = 60) -> None:
    if not poll_until(lambda: text in app.log_text(), timeout_s, 0.2):
        raise TimeoutError(f"{text!r} not in the app's log: {app.log_text()[-2000:]}")


def test_poi_enrol_match_strangers_and_remove(
    settings: VigilSettings,
    tmp_path: Path,
    centerface: CenterFaceAdapter,
    faceres: EmbedderAdapter,
) -> None:
    provision(settings)
    cascade = FaceCascade(
        centerface,
        faceres,
        min_face_px=settings.models.min_face_px,
        min_sharpness=settings.models.min_sharpness,
    )
    man = frames("carphone_pristine.mp4", [0, *range(40, 120, 8)])
    enrol_png = tmp_path / "carphone-0.png"
    cv2.imwrite(str(enrol_png), man[0])

    # bad enrolment images: a clear error, nothing published
    cat = tmp_path / "chelsea.png"
    cv2.imwrite(str(cat), still("chelsea"))
    a, g = still("astronaut"), still("grace_hopper")
    g = np.asarray(
        cv2.resize(g, (round(g.shape[1] * a.shape[0] / g.shape[0]), a.shape[0])), np.uint8
    )
    group = tmp_path / "group.png"
    cv2.imwrite(str(group), np.hstack([a, g]))
    bad = vigil(
        settings,
        "poi",
        "enroll",
        "--id",
        "x",
        "--image",
        str(enrol_png),
        "--image",
        str(cat),
        "--image",
        str(group),
    )
    assert bad.returncode == 2
    assert "chelsea.png: no usable face" in " ".join(bad.stderr.split())
    assert "group.png: 2 faces, need exactly one" in " ".join(bad.stderr.split())
    assert read_topic(settings, Topic.POI, decode=False) == []

    ok = vigil(
        settings,
        "poi",
        "enroll",
        "--id",
        "carphone-man",
        "--name",
        "Carphone",
        "--image",
        str(enrol_png),
    )
    assert ok.returncode == 0, ok.stderr
    listed = vigil(settings, "poi", "list")
    assert "carphone-man" in listed.stdout
    assert "Carphone" in listed.stdout

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    strangers = [face_event(cascade, "stills", i, img) for i, img in enumerate([a, g] * 4)]
    later = [face_event(cascade, "carphone", i, img) for i, img in enumerate(man[1:])]
    assert all(len(e["detections"]) == 1 for e in strangers + later)
    publish_detections(settings, strangers + later)
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log")
    try:
        alerts = read_topic(settings, Topic.ALERTS, want=1, timeout_s=90, proc=app)
        wait_committed(
            settings,
            "-".join([settings.topics.prefix, "alerting"]),
            len(strangers) + len(later),
            timeout_s=60,
        )
        alerts = read_topic(settings, Topic.ALERTS, idle_s=1.5)
        assert [(x["camera_id"], x["rule_id"], x["poi_id"], x["frame_id"]) for x in alerts] == [
            ("carphone", "poi", "carphone-man", "carphone-2")  # the third confirming frame
        ]
        assert alerts[0]["poi_similarity"] >= 0.6
        audit = [
            json.loads(line)
            for line in (settings.data_dir / "alerting" / "poi-audit.jsonl")
            .read_text()
            .splitlines()
        ]
        assert {e["camera_id"] for e in audit if e["decision"] == "match"} == {"carphone"}
        assert len([e for e in audit if e["camera_id"] == "carphone"]) == len(later)

        removed = vigil(settings, "poi", "remove", "--id", "carphone-man")
        assert removed.returncode == 0, removed.stderr
        wait_for_log(app, "; 0 on the watch-list")  # logs name a pseudonym, never the id
        assert "poi removed: carphone-man" not in app.log_text()
        again = [face_event(cascade, "carphone-2", i, img) for i, img in enumerate(man[1:])]
        publish_detections(settings, again)
        total = len(strangers) + len(later) + len(again)
        wait_committed(settings, f"{settings.topics.prefix}-alerting", total, timeout_s=60)
        assert len(read_topic(settings, Topic.ALERTS, idle_s=1.5)) == 1
    finally:
        app.stop()
    assert "carphone-man" not in vigil(settings, "poi", "list").stdout
