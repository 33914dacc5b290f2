"""Shared by the dashboard tests: settings with a viewer and a POI key, events on the real
broker, and ``vigil api``'s app served by uvicorn on a free loopback port."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import httpx
import uvicorn
from pydantic import SecretStr

from schemas.contracts import serde_for
from vigil import kafka
from vigil.testing import free_port, poll_until, samples
from vigil.testing.media import still
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.api import create_app
from vigil_app.settings import AccessSettings, DashboardSettings, IngestSettings, VigilSettings

VIEWER_KEY = "viewer-key-0123456789"
POI_KEY = "poi-key-0123456789"
SESSION_SECRET = "test-session-secret-0123456789-abcdefghij"  # noqa: S105
# the astronaut still: her face, by hand (normalised), for the blur checks
FACE_BOX = {"x_min": 0.36, "y_min": 0.1, "x_max": 0.6, "y_max": 0.42}


def dashboard_settings(settings: VigilSettings, **ingest: Any) -> VigilSettings:
    return settings.model_copy(
        update={
            "ingest": IngestSettings(**ingest),
            "access": AccessSettings(
                viewer_keys=(SecretStr(VIEWER_KEY),), poi_keys=(SecretStr(POI_KEY),)
            ),
            "dashboard": DashboardSettings(session_secret=SecretStr(SESSION_SECRET)),
        }
    )


def astronaut_jpeg() -> tuple[bytes, int, int]:
    image = still("astronaut")
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes(), image.shape[1], image.shape[0]


def publish(settings: VigilSettings, topic: Topic, records: list[dict[str, Any]]) -> None:
    name = topic.name_in(settings.topics)
    serde = serde_for(settings, topic)
    prod = kafka.producer(settings)
    for record in records:
        kafka.produce(prod, name, serde.serialize(record, topic=name), key=record["camera_id"])
    assert prod.flush(30) == 0


def astronaut_frame(camera: str) -> dict[str, Any]:
    """A FrameEvent of the astronaut still (a face), with a fresh frame id."""
    jpeg, width, height = astronaut_jpeg()
    now = int(time.time() * 1000)
    return {
        **samples.frame_event(1, camera),
        "frame_id": f"{camera}-{uuid.uuid4().hex[:8]}",
        "capture_ts_ms": now,
        "ingest_ts_ms": now,
        "width": width,
        "height": height,
        "image": jpeg,
    }


def seed(settings: VigilSettings, camera: str = "gate") -> dict[str, Any]:
    """One JPEG frame with a person and a face, its detections (from before the face cascade
    said whether it ran: ``faces_searched`` false), and one alert on it."""
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    frame = astronaut_frame(camera)
    frame_id, now = frame["frame_id"], frame["capture_ts_ms"]
    det = {**samples.detection_event(), "frame_id": frame_id, "camera_id": camera}
    det["capture_ts_ms"] = now
    det["detections"] = [
        {**det["detections"][0], "box": {"x_min": 0.2, "y_min": 0.05, "x_max": 0.8, "y_max": 1.0}},
        {**det["detections"][0], "label": "face", "class_id": 0, "box": FACE_BOX},
    ]
    alert = {**samples.alert(), "camera_id": camera, "frame_id": frame_id, "alert_ts_ms": now}
    alert["alert_id"] = f"a-{uuid.uuid4().hex[:8]}"
    alert["incident_id"] = f"i-{uuid.uuid4().hex[:8]}"
    publish(settings, Topic.FRAMES, [frame])
    publish(settings, Topic.DETECTIONS, [det])
    publish(settings, Topic.ALERTS, [alert])
    return {"frame": frame, "detection": det, "alert": alert}


@contextmanager
def serve(settings: VigilSettings) -> Iterator[str]:
    """``vigil api``'s app on a free port; its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def started() -> bool:
        if server.started:
            return True
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        return False

    if not poll_until(started, 30):
        raise RuntimeError("uvicorn did not start")
    try:
        yield base
    finally:
        app = config.app
        server.should_exit = True
        thread.join(timeout=15)
        dash = getattr(getattr(app, "state", None), "dashboard", None)
        if dash is not None:
            dash.close()


def login(base: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    resp = client.post("/dashboard/login", data={"key": key})
    assert resp.status_code == 303, resp.text
    return client


def fill_clickhouse(settings: VigilSettings, camera: str = "gate", minutes: int = 5) -> int:
    """Migrated tables with ``minutes`` of detections, alerts and drift windows (one alarm)
    written the way the sink writes them; the number of detection objects."""
    from connectors.sinks.clickhouse.rows import COLUMNS, map_event
    from connectors.sinks.clickhouse.schema import Retention, migrate
    from vigil.clickhouse import connect

    now = int(time.time() * 1000)
    events: list[tuple[Topic, dict[str, Any]]] = []
    for m in range(minutes):
        ts = now - (minutes - m) * 60_000
        det = {**samples.detection_event(), "camera_id": camera, "capture_ts_ms": ts}
        det["frame_id"] = f"{camera}-ch-{m}"
        alert = {**samples.alert(), "camera_id": camera, "alert_ts_ms": ts, "alert_id": f"a{m}"}
        drift = {
            **samples.drift_stat(),
            "camera_id": camera,
            "window_start_ms": ts,
            "window_end_ms": ts + 60_000,
            "value": 0.05 * (m + 1),
            "alarm": m == minutes - 1,
        }
        events += [(Topic.DETECTIONS, det), (Topic.ALERTS, alert), (Topic.DRIFT, drift)]
    client = connect(settings)
    db = settings.clickhouse.database
    try:
        migrate(client, db, Retention())
        objects = 0
        for offset, (topic, record) in enumerate(events):
            mapped = map_event(topic, record, (topic.name_in(settings.topics), 0, offset))
            for table, rows in mapped.rows.items():
                names = [name for name, _ in COLUMNS[table]]
                client.insert(f"{db}.{table}", names, rows)
                objects += len(rows) if table == "detections" else 0
        return objects
    finally:
        client.close()
