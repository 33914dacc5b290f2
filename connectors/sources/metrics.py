"""Prometheus metrics of the camera sources, labelled by camera id."""

from __future__ import annotations

from prometheus_client import Counter, Enum, Gauge

STATES = ["connecting", "streaming", "backing_off", "failed", "finished", "stopped"]

CAMERA_STATE = Enum("vigil_camera_state", "Reader state of each camera", ["camera"], states=STATES)
FRAMES_CAPTURED = Counter("vigil_camera_frames_captured", "Frames sampled and encoded", ["camera"])
FRAMES_PRODUCED = Counter(
    "vigil_camera_frames_produced", "Frames acknowledged by Kafka (acks=all)", ["camera"]
)
FRAMES_DROPPED = Counter(
    "vigil_camera_frames_dropped", "Frames dropped by the drop policy", ["camera", "policy"]
)
DELIVERY_FAILURES = Counter(
    "vigil_camera_delivery_failures", "Frames Kafka refused after its retries", ["camera"]
)
RECONNECTS = Counter("vigil_camera_reconnects", "Stream reopen attempts", ["camera"])
RESTARTS = Counter("vigil_camera_restarts", "Crashed readers restarted", ["camera"])
BUFFERED = Gauge("vigil_camera_buffered_frames", "Frames waiting for Kafka", ["camera"])
