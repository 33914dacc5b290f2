"""Realistic DetectionEvent streams for tests, the benchmark and the demo.

Frames of a real video go through the real SSD detector (the model zoo's, on CPU) once; the
detections and image statistics of every frame, and of the same frame under injected shifts
(brightness halved, Gaussian blur, covered lens), are cached as JSON so later runs replay them
without inference. A stream is then a camera replaying the video in a loop, with frames
dropped at random (natural variation), and optionally a shift from some loop on.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vigil.imagestats import Image, image_stats

VARIANTS = ("original", "dark", "blur", "black")
SHIFTS = ("none", "dark", "blur", "black", "frozen", "no_persons")


def shifted(frame: Image, variant: str, seed: int) -> Image:
    if variant == "original":
        return frame
    if variant == "dark":
        return np.asarray(frame // 2, dtype=np.uint8)
    if variant == "blur":
        return np.asarray(cv2.GaussianBlur(frame, (0, 0), 4.0), dtype=np.uint8)
    if variant == "black":  # a covered lens: dark sensor noise, not exact zeros
        rng = np.random.default_rng(seed)
        return np.clip(rng.normal(4.0, 2.0, frame.shape), 0, 255).astype(np.uint8)
    raise ValueError(f"unknown variant {variant!r}")


def read_frames(video: Path, step: int = 2) -> list[Image]:
    capture = cv2.VideoCapture(str(video))
    frames: list[Image] = []
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(np.asarray(frame, dtype=np.uint8))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise RuntimeError(f"OpenCV decoded no frames from {video}")
    return frames


@dataclass(frozen=True)
class FramePool:
    """Per variant, per frame: the detections (DetectionEvent dicts) and image statistics."""

    model_name: str
    model_version: str
    width: int
    height: int
    frames: dict[str, list[dict[str, Any]]]

    def __len__(self) -> int:
        return len(self.frames["original"])


def build_pool(
    video: Path, detector: Any, cache_file: Path | None = None, step: int = 2
) -> FramePool:
    """Run ``detector`` (a zoo adapter) on every ``step``-th frame of ``video`` and its shifted
    variants; reuse ``cache_file`` when it was made from the same video and model."""
    frames = read_frames(video, step)
    ident = detector.identity if hasattr(detector, "identity") else None
    tag = hashlib.sha256(f"{video.name}:{video.stat().st_size}:{step}:{ident}".encode()).hexdigest()
    if cache_file is not None and cache_file.is_file():
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("tag") == tag:
            return FramePool(**cached["pool"])
    per_variant: dict[str, list[dict[str, Any]]] = {}
    name, version = "", ""
    for variant in VARIANTS:
        images = [shifted(f, variant, seed=i) for i, f in enumerate(frames)]
        rows: list[dict[str, Any]] = []
        for i in range(0, len(images), 8):
            for image, result in zip(images[i : i + 8], detector(images[i : i + 8]), strict=True):
                name, version = result.model.name, result.model.event_version
                dets = [
                    {
                        "label": d.label,
                        "class_id": d.class_id,
                        "score": float(d.score),
                        "box": {k: float(v) for k, v in d.box.as_dict().items()},
                        "embedding": None,
                        "track_id": None,
                    }
                    for d in result.detections
                ]
                rows.append({"detections": dets, "image_stats": dict(image_stats(image))})
        per_variant[variant] = rows
    h, w = frames[0].shape[:2]
    pool = FramePool(name, version, w, h, per_variant)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {"tag": tag, "pool": pool.__dict__}
        cache_file.write_text(json.dumps(payload), encoding="utf-8")
    return pool


def _frame_for(pool: FramePool, shift: str, index: int) -> dict[str, Any]:
    if shift in ("none", "frozen"):
        return pool.frames["original"][0 if shift == "frozen" else index]
    if shift == "no_persons":
        row = pool.frames["original"][index]
        dets = [d for d in row["detections"] if d["label"] != "person"]
        return {"detections": dets, "image_stats": row["image_stats"]}
    return pool.frames[shift][index]


def stream(
    pool: FramePool,
    camera: str,
    loops: int,
    *,
    frame_ms: int = 100,
    start_ms: int = 0,
    keep: float = 0.85,
    seed: int = 0,
    shift: Callable[[int], str] = lambda loop: "none",
    model_version: str | None = None,
) -> Iterator[dict[str, Any]]:
    """DetectionEvents of ``camera`` replaying the pool ``loops`` times; frame ``i`` of loop
    ``k`` is captured at ``start_ms + (k * len(pool) + i) * frame_ms``. ``shift(k)`` names the
    shift applied during loop ``k`` (one of :data:`SHIFTS`)."""
    rng = random.Random(f"{camera}:{seed}")  # noqa: S311 - reproducible frame drops
    n = len(pool)
    for loop in range(loops):
        kind = shift(loop)
        for i in range(n):
            if rng.random() > keep:
                continue
            seq = loop * n + i
            ts = start_ms + seq * frame_ms
            row = _frame_for(pool, kind, i)
            yield {
                "frame_id": f"{camera}-{seq}",
                "camera_id": camera,
                "sequence": seq,
                "capture_ts_ms": ts,
                "inference_ts_ms": ts + 40,
                "model_name": pool.model_name,
                "model_version": model_version or pool.model_version,
                "frame_width": pool.width,
                "frame_height": pool.height,
                "detections": row["detections"],
                "image_stats": row["image_stats"],
            }
