"""What the dashboard shows live: the tail of ``vigil.frames``, ``vigil.detections`` and
``vigil.alerts`` kept in bounded memory by one background reader (no consumer group offsets are
committed: every dashboard replica reads everything, like the POI feed), plus the camera states
``vigil ingest`` writes to its status file."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from dashboards.web.settings import DashboardProcessSettings
from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil import kafka
from vigil.cameras import read_status
from vigil.follow import Follower, last
from vigil.topics import Topic, prepare_topics

log = logging.getLogger(__name__)
FPS_WINDOW = 20
Subscriber = tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]


@dataclass
class CameraView:
    camera_id: str
    frame_times_ms: deque[int] = field(default_factory=lambda: deque(maxlen=FPS_WINDOW))
    last_frame_id: str | None = None
    last_detected_frame_id: str | None = None
    last_detection_id: str | None = None
    last_seen_ms: int = 0

    def fps(self) -> float | None:
        times = sorted(self.frame_times_ms)
        if len(times) < 2 or times[-1] <= times[0]:
            return None
        return round((len(times) - 1) * 1000 / (times[-1] - times[0]), 2)


class Bounded(OrderedDict[str, dict[str, Any]]):
    """Insertion-ordered, dropping the oldest past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: dict[str, Any]) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class LiveState:
    def __init__(self, settings: DashboardProcessSettings) -> None:
        self.settings = settings
        cfg = settings.dashboard
        shown = (Topic.FRAMES, Topic.DETECTIONS, Topic.ALERTS)
        self.topics = {t: t.name_in(settings.topics) for t in shown}
        self.by_name = {name: t for t, name in self.topics.items()}
        self.serdes = {t: serde_for(settings, t) for t in self.topics}
        self.frames = Bounded(cfg.max_frames)
        self.detections = Bounded(cfg.max_frames * 4)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=cfg.max_alerts)
        self.cameras: dict[str, CameraView] = {}
        self.lock = threading.Lock()
        self.caught_up = threading.Event()  # also set when the reader failed: see ``error``
        self.error: str | None = None
        self._subscribers: set[Subscriber] = set()
        self._reader = Follower(
            settings,
            list(self.topics.values()),
            self._record,
            name="dashboard-live",
            start=last(settings.dashboard.tail_messages),
            before=self._prepare,
            on_caught_up=self.caught_up.set,
            on_error=self._failed,
        )
        self._started = False

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LiveState:
        with self.lock:  # every dashboard request calls it, from the threadpool
            if not self._started:
                self._started = True
                self._reader.start()
        return self

    def stop(self) -> None:
        self._reader.stop(timeout_s=10)

    # subscribers (server-sent events) ------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        with self.lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self.lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _publish(self, alert: dict[str, Any]) -> None:
        def offer(queue: asyncio.Queue[dict[str, Any]]) -> None:
            if queue.full():  # a slow browser loses the oldest, never blocks the reader
                queue.get_nowait()
            queue.put_nowait(alert)

        for loop, queue in list(self._subscribers):
            try:
                loop.call_soon_threadsafe(offer, queue)
            except RuntimeError:  # the subscriber's loop is closed
                self.unsubscribe(queue)

    # reader --------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        kafka.wait_until_ready(self.settings, timeout_s=60)
        prepare_topics(kafka.admin(self.settings), self.settings.topics)

    def _failed(self, exc: BaseException) -> None:  # shown on the page; the API keeps serving
        self.error = f"{type(exc).__name__}: {exc}"
        self.caught_up.set()

    def _record(self, msg: Message) -> None:
        topic = self.by_name[str(msg.topic())]
        try:
            record = self.serdes[topic].decode(msg)
        except SerdeError as exc:  # the pipeline dead-letters it; the dashboard skips it
            log.warning("dashboard: undecodable %s message skipped: %s", msg.topic(), exc)
            return
        self.apply(topic, record)

    def apply(self, topic: Topic, record: dict[str, Any]) -> None:
        now = int(time.time() * 1000)
        with self.lock:
            if topic is Topic.ALERTS:
                self.alerts.append(record)
            else:
                cam = self.cameras.setdefault(record["camera_id"], CameraView(record["camera_id"]))
                cam.last_seen_ms = now
                frame_id = record["frame_id"]
                if topic is Topic.FRAMES:
                    self.frames.put(frame_id, record)
                    cam.frame_times_ms.append(int(record["capture_ts_ms"]))
                    cam.last_frame_id = frame_id
                else:
                    self.detections.put(frame_id, record)
                    cam.last_detection_id = frame_id
                # the topics arrive in any order: pair a frame with its detections either way
                if frame_id in self.frames and frame_id in self.detections:
                    cam.last_detected_frame_id = frame_id
        if topic is Topic.ALERTS:
            self._publish(record)

    # views ---------------------------------------------------------------------------------------
    def display_frame(self, camera_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The newest frame with its detections (else the newest frame) of a camera."""
        with self.lock:
            cam = self.cameras.get(camera_id)
            if cam is None:
                return None
            for frame_id in (cam.last_detected_frame_id, cam.last_frame_id):
                if frame_id and frame_id in self.frames:
                    return self.frames[frame_id], self.detections.get(frame_id)
        return None

    def frame(self, frame_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        with self.lock:
            event = self.frames.get(frame_id)
            return None if event is None else (event, self.detections.get(frame_id))

    def camera_rows(self) -> list[dict[str, Any]]:
        status = _ingest_status(self.settings)
        now = int(time.time() * 1000)
        stale_ms = self.settings.dashboard.stale_after_s * 1000
        with self.lock:
            ids = sorted(set(self.cameras) | set(status))
            rows = []
            for cam_id in ids:
                view = self.cameras.get(cam_id)
                last_ms = max(view.frame_times_ms) if view and view.frame_times_ms else None
                det_id = view.last_detected_frame_id if view else None
                latest = view.last_detection_id if view else None
                det = self.detections.get(latest) if latest else None
                if cam_id in status:
                    state = status[cam_id]
                elif view is not None and view.last_seen_ms and now - view.last_seen_ms < stale_ms:
                    state = "streaming"
                else:
                    state = "idle"
                labels: dict[str, int] = {}
                for d in (det or {}).get("detections", []):
                    labels[d["label"]] = labels.get(d["label"], 0) + 1
                rows.append(
                    {
                        "camera_id": cam_id,
                        "state": state,
                        "fps": view.fps() if view else None,
                        "last_capture_ts_ms": last_ms,
                        "has_frame": bool(view and view.last_frame_id in self.frames),
                        "frame_id": (det_id or (view.last_frame_id if view else None)),
                        "labels": labels,
                    }
                )
        return rows

    def recent_alerts(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.alerts)[-limit:][::-1]


def _ingest_status(settings: DashboardProcessSettings) -> dict[str, str]:
    """Camera states from a running ``vigil ingest`` sharing the data directory (fresh only)."""
    try:
        status = read_status(settings)
    except (OSError, ValueError):
        return {}
    if not status or time.time() * 1000 - int(status.get("updated_ts_ms", 0)) > 10_000:
        return {}
    return {str(c["id"]): str(c["state"]) for c in status.get("cameras", [])}


def incidents(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts (newest first) grouped by incident, newest incident first."""
    grouped: dict[str, dict[str, Any]] = {}
    order = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    for alert in alerts:
        inc = grouped.get(alert["incident_id"])
        if inc is None:
            grouped[alert["incident_id"]] = {
                "incident_id": alert["incident_id"],
                "rule_id": alert["rule_id"],
                "camera_id": alert["camera_id"],
                "severity": alert["severity"],
                "count": 1,
                "first_ts_ms": alert["alert_ts_ms"],
                "last_ts_ms": alert["alert_ts_ms"],
                "latest": alert,
            }
            continue
        inc["count"] += 1
        inc["first_ts_ms"] = min(inc["first_ts_ms"], alert["alert_ts_ms"])
        if alert["alert_ts_ms"] > inc["last_ts_ms"]:
            inc["last_ts_ms"], inc["latest"] = alert["alert_ts_ms"], alert
        if _rank(alert["severity"], order) > _rank(inc["severity"], order):
            inc["severity"] = alert["severity"]
    return sorted(grouped.values(), key=lambda i: i["last_ts_ms"], reverse=True)


def _rank(severity: Any, order: list[str]) -> int:
    return order.index(str(severity)) if str(severity) in order else 0
