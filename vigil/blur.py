"""How Vigil hides a face in pixels, the same wherever a frame leaves it (the dashboard, the
dataset store): a face box is pixelated then blurred, and a frame whose faces are unknown is
blurred whole, down to ``WHOLE_BLOCKS`` across its longer side (a face is a smear)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

WHOLE_BLOCKS = 24  # a frame blurred whole keeps this many blocks across its longer side

Pixels = np.ndarray[Any, Any]


def blur_region(image: Pixels, x0: int, y0: int, x1: int, y1: int) -> None:
    """Pixelate then blur, in place: nothing of a face survives, at any size."""
    region = image[y0:y1, x0:x1]
    if region.size == 0:
        return
    h, w = region.shape[:2]
    small = cv2.resize(region, (max(1, w // 12), max(1, h // 12)), interpolation=cv2.INTER_AREA)
    image[y0:y1, x0:x1] = cv2.GaussianBlur(
        cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), (0, 0), max(2.0, w / 20)
    )


def blur_whole(image: Pixels) -> None:
    """Down to ``WHOLE_BLOCKS`` across the longer side, blurred there, scaled back up, in place:
    nothing finer than a 24th of the frame survives, at the same cost for any frame size."""
    h, w = image.shape[:2]
    scale = WHOLE_BLOCKS / max(h, w)
    small = cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    image[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
