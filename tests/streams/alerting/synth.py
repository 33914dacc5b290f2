"""Synthetic DetectionEvents for rule tests: people as boxes that stand, walk and leave."""

from __future__ import annotations

from typing import Any

BoxT = tuple[float, float, float, float]
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def person(
    cx: float,
    bottom: float,
    *,
    label: str = "person",
    score: float = 0.9,
    w: float = 0.1,
    h: float = 0.3,
    embedding: list[float] | None = None,
) -> dict[str, Any]:
    return {
        "label": label,
        "class_id": 1,
        "score": score,
        "box": {"x_min": cx - w / 2, "y_min": bottom - h, "x_max": cx + w / 2, "y_max": bottom},
        "embedding": embedding,
        "track_id": None,
    }


def event(
    camera: str,
    seq: int,
    dets: list[dict[str, Any]],
    *,
    ts_ms: int | None = None,
    fps: float = 10.0,
    width: int = 640,
    height: int = 480,
) -> dict[str, Any]:
    ts = T0 + int(seq * 1000 / fps) if ts_ms is None else ts_ms
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": ts,
        "inference_ts_ms": ts + 5,
        "model_name": "synthetic",
        "model_version": "1",
        "frame_width": width,
        "frame_height": height,
        "detections": dets,
        "image_stats": {"brightness": 0.5, "contrast": 0.2, "sharpness": 10.0, "dhash": None},
    }
