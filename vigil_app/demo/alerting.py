"""The demo's alerting stage: the carphone man enrolled from one frame of his clip, then the
real ``vigil alerts`` process over the worker's detections until it has raised a POI alert (on
the carphone camera) and a zone alert (on the sample video)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import cv2
from confluent_kafka import KafkaError
from rich.console import Console
from rich.table import Table

from gpu_workers.faces import CascadeFaces
from schemas.contracts import serde_for
from vigil import kafka
from vigil.poi import publish_enrollment
from vigil.topics import Topic
from vigil_app.demo.apps import app_env, terminate, vigil_command
from vigil_app.demo.sources import SAMPLE_CAMERA
from vigil_app.settings import VigilSettings

PERSON_ID = "demo-carphone-man"
EXPECTED = frozenset({"poi", "bikes-lane"})
RULES = f"""
rules:
  - id: bikes-lane
    cameras: [{SAMPLE_CAMERA}]
    labels: [person, bicycle]
    min_score: 0.5
    zone: [[0.3, 0.5], [1, 0.5], [1, 1], [0.3, 1]]
    severity: MEDIUM
    # the clip lasts 2 s of event time; a second demo run on the same topics may ingest it again
    # as little as ~30 s later, which the default quiet_s (30) would take for the same incident
    quiet_s: 5
poi:
  threshold: 0.6
  confirm_k: 3
  confirm_n: 5
  # as for the zone: a second demo run may show the same face ~30 s later, which the default
  # quiet_s (30) took for the same incident (no POI alert: seen once, when a run was quick)
  quiet_s: 5
destinations:
  log: true
"""


def rules_file(settings: VigilSettings) -> Path:
    """The demo's rules (the replay's evaluation scores alerts with them too)."""
    path = settings.data_dir / "demo" / "rules.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RULES)
    return path


def enroll(settings: VigilSettings, video: Path, console: Console) -> None:
    """Publish the watch-list entry built from the first frame of ``video``."""
    cap = cv2.VideoCapture(str(video))
    try:
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise SystemExit(f"demo failed: no frame in {video}")
    png = cv2.imencode(".png", frame)[1].tobytes()
    with console.status(f"Enrolling {PERSON_ID} from the first frame of {video.name}..."):
        enrollment = CascadeFaces(settings).enroll(PERSON_ID, [("frame 0", png)])
        publish_enrollment(settings, enrollment.record)


def run_alerting(
    settings: VigilSettings, start: list[Any], console: Console, timeout_s: float = 120.0
) -> list[dict[str, Any]]:
    """``vigil alerts`` as its own process (as in production) until the alerts topic, read from
    ``start``, holds both expected alerts; prints them."""
    alerts = _run_app_until(settings, rules_file(settings), start, console, timeout_s)
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
    seen = {a["rule_id"] for a in alerts}
    if not seen >= EXPECTED:
        raise SystemExit(f"demo failed: expected a POI and a zone alert, got {sorted(seen)}")
    return alerts


def _run_app_until(
    settings: VigilSettings, rules: Path, start: list[Any], console: Console, timeout_s: float
) -> list[dict[str, Any]]:
    env = app_env(settings)
    log_path = settings.data_dir / "demo" / "alerts.log"
    serde = serde_for(settings, Topic.ALERTS)
    cons = kafka.consumer(settings, f"vigil-demo-alerts-{time.monotonic_ns()}")
    cons.assign(start)
    alerts: list[dict[str, Any]] = []
    command = vigil_command("alerts")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [*command, "--rules", str(rules)], env=env, stdout=log, stderr=subprocess.STDOUT
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
                    alerts.append(serde.decode(msg))
                    if {a["rule_id"] for a in alerts} >= EXPECTED:
                        _drain(cons, serde, alerts)
                        break
        finally:
            terminate(proc)
            cons.close()
    if proc.returncode not in (0, -15, None) and not alerts:
        raise SystemExit(f"demo failed: vigil alerts exited {proc.returncode}; see {log_path}")
    return alerts


def _drain(cons: Any, serde: Any, alerts: list[dict[str, Any]], for_s: float = 1.0) -> None:
    """The rest of this run's alerts, committed with or just after the expected ones."""
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        msg = cons.poll(0.2)
        if msg is not None and msg.error() is None:
            alerts.append(serde.decode(msg))
