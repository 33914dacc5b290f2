"""A cheap motion measure for one camera: a running-average background of a small, blurred grey
copy of each frame, the pixels that differ from it by more than a threshold (small specks
removed by a morphological opening), as a fraction of the pixels outside the camera's masks.
The same difference against the grey copy of another frame (:meth:`MotionModel.against`)
tells the gate what changed since its last detection: what left the scene, which a slowly
learning background barely saw arrive.

Pure numpy / OpenCV, no state of its own: :meth:`MotionModel.measure` takes a background and
returns the next one, so the caller decides when a frame's update is kept (only once its
batch went through, see ``gate.py``). At 160 px wide it costs well under a millisecond a frame,
next to tens of milliseconds of detector."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]
Background = npt.NDArray[np.float32]
Polygon = tuple[tuple[float, float], ...]  # normalized (x, y) points
_OPEN = np.ones((3, 3), np.uint8)


def grey_copy(image: npt.NDArray[np.uint8], width: int) -> Grey:
    """``image`` (BGR or grey) at ``width`` pixels wide (never enlarged), grey and blurred so
    sensor noise and JPEG blocks do not read as motion."""
    h, w = image.shape[:2]
    small = image
    if w > width:
        size = (width, max(1, round(h * width / w)))
        # bilinear: ~6x cheaper than INTER_AREA here; the blur below does the averaging
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), np.uint8)
    if small.ndim == 3:
        small = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), np.uint8)
    return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), dtype=np.uint8)


@lru_cache(maxsize=256)
def mask_of(shape: tuple[int, int], polygons: tuple[Polygon, ...]) -> npt.NDArray[np.bool_] | None:
    """True where pixels count (outside every polygon); None when there is no polygon. Cached:
    a camera's masks and size rarely change."""
    if not polygons:
        return None
    h, w = shape
    excluded = np.zeros((h, w), np.uint8)
    for polygon in polygons:
        points = np.asarray([(x * (w - 1), y * (h - 1)) for x, y in polygon], np.float32)
        cv2.fillPoly(excluded, [np.round(points).astype(np.int32)], 1)
    return np.asarray(excluded == 0)


@dataclass(frozen=True)
class Measure:
    fraction: float  # of the counted pixels that moved; 1.0 when there was no background
    moved: bool


@dataclass(frozen=True)
class MotionModel:
    """``threshold``: grey levels a pixel must differ from the background by; ``min_area``:
    the moved fraction that is motion; ``learning_rate``: the weight of each new frame in the
    background (small: a passer-by stays foreground; a person who stops fades into it, and the
    forced detections keep them seen)."""

    threshold: int
    min_area: float
    learning_rate: float
    masks: tuple[Polygon, ...] = ()

    def measure(self, background: Background | None, grey: Grey) -> tuple[Measure, Background]:
        """The motion of ``grey`` against ``background`` and the updated background (a new
        array; ``background`` is untouched). No background, or one of another size (the
        camera's resolution changed): motion, and the frame starts the background."""
        if background is None or background.shape != grey.shape:
            return Measure(1.0, True), grey.astype(np.float32)
        measure = self.against(np.asarray(cv2.convertScaleAbs(background), np.uint8), grey)
        updated = background.copy()
        cv2.accumulateWeighted(grey, updated, self.learning_rate)
        return measure, updated

    def against(self, reference: Grey, grey: Grey) -> Measure:
        """The motion of ``grey`` against another grey copy (of another size: motion)."""
        if reference.shape != grey.shape:
            return Measure(1.0, True)
        diff = cv2.absdiff(grey, reference)
        over = np.asarray(diff > self.threshold, np.uint8)
        moved = np.asarray(cv2.morphologyEx(over, cv2.MORPH_OPEN, _OPEN), np.uint8)
        mask = mask_of((grey.shape[0], grey.shape[1]), self.masks)
        if mask is not None:
            counted = int(mask.sum())
            fraction = float(moved[mask].sum()) / counted if counted else 0.0
        else:
            fraction = float(cv2.countNonZero(moved)) / moved.size
        return Measure(fraction, fraction >= self.min_area and fraction > 0)
