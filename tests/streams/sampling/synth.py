"""DetectionEvents for the sampling tests: a camera's frames at 100 ms of capture time, with
the detections each rule looks for."""

from __future__ import annotations

from typing import Any

FRAME_MS = 100
BASE_MS = 1_795_300_800_000  # a whole hour (UTC)
HOUR_MS = 3_600_000


def det(
    label: str = "person",
    score: float = 0.9,
    box: tuple[float, float, float, float] = (0.1, 0.1, 0.4, 0.6),
) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {
        "label": label,
        "class_id": 1,
        "score": score,
        "box": {"x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1},
        "embedding": None,
        "track_id": None,
    }


def event(
    camera: str,
    seq: int,
    detections: list[dict[str, Any]],
    *,
    at_ms: int | None = None,
    model: str = "ssd",
    version: str = "v1",
    carried: str | None = None,
) -> dict[str, Any]:
    ts = BASE_MS + seq * FRAME_MS if at_ms is None else at_ms
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": ts,
        "inference_ts_ms": ts + 50,
        "model_name": model,
        "model_version": version,
        "frame_width": 640,
        "frame_height": 480,
        "detections": detections,
        "image_stats": {"brightness": 0.5, "contrast": 0.25, "sharpness": 100.0, "dhash": None},
        "faces_searched": False,
        "carried_from": carried,
    }


def drift_alert(camera: str, start_ms: int, end_ms: int, version: str = "v1") -> dict[str, Any]:
    """An Alert as streams/drift raises it when a window closes drifted."""
    return {
        "alert_id": f"drift:brightness:{camera}:{version}:{start_ms}",
        "rule_id": "drift:brightness",
        "incident_id": f"drift:brightness:{camera}:{version}:{start_ms}",
        "camera_id": camera,
        "frame_id": "",
        "label": "brightness",
        "score": 0.5,
        "poi_id": None,
        "poi_similarity": None,
        "severity": "MEDIUM",
        "capture_ts_ms": end_ms,
        "alert_ts_ms": end_ms + 1000,
        "track_id": None,
        "details": {
            "feature": "brightness",
            "model_version": version,
            "window_start_ms": str(start_ms),
            "window_end_ms": str(end_ms),
        },
    }
