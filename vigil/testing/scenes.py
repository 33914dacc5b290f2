"""A fixed camera's mostly static scene, made deterministically from the shipped media: a still
street (frame 50 of bikes.mp4: a parked car the detector finds) with light sensor noise, and a
person (scikit-image's astronaut, which SSD-MobileNet finds at ~0.9) crossing it in a share of
the frames. The motion gate's tests and bench run on it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigil.testing.media import Image, frames, still

BACKGROUND_FRAME = 50  # of bikes.mp4: a street with a parked car, no one walking
PERSON_HEIGHT = 150  # of 272 rows


@dataclass(frozen=True)
class Scene:
    jpegs: list[bytes]
    person: list[bool]  # whether the passer-by is in frame i


def _person() -> Image:
    crop = still("astronaut")
    width = round(crop.shape[1] * PERSON_HEIGHT / crop.shape[0])
    return np.asarray(
        cv2.resize(crop, (width, PERSON_HEIGHT), interpolation=cv2.INTER_AREA), np.uint8
    )


def static_scene(count: int = 250, passing: float = 0.1, noise: float = 1.5) -> Scene:
    """``count`` JPEG frames (640x272) of the still street; the person walks across, left to
    right, in the middle ``passing`` share of them. Seeded noise: the same bytes every run."""
    background = frames("bikes.mp4", [BACKGROUND_FRAME])[0].astype(np.float32)
    person = _person()
    rng = np.random.default_rng(17)
    h, w = background.shape[:2]
    walk = max(1, round(count * passing))
    first = (count - walk) // 2
    jpegs: list[bytes] = []
    present: list[bool] = []
    for i in range(count):
        image = background + rng.normal(0.0, noise, background.shape).astype(np.float32)
        frame = np.clip(image, 0, 255).astype(np.uint8)
        step = i - first
        inside = 0 <= step < walk
        if inside:
            x = round(step * (w - person.shape[1]) / max(1, walk - 1))
            frame[h - PERSON_HEIGHT - 8 : h - 8, x : x + person.shape[1]] = person
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        jpegs.append(buf.tobytes())
        present.append(inside)
    return Scene(jpegs, present)
