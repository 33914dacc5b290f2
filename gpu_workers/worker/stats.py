"""Per-frame image statistics the drift stream watches: brightness, contrast, sharpness and a
difference hash (identical hashes on consecutive frames mean a frozen feed)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt


def luma(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def dhash(grey: npt.NDArray[np.uint8]) -> int:
    """64-bit difference hash (9x8 thumbnail, left < right per row) as a signed long."""
    thumb = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (thumb[:, 1:] > thumb[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= (1 << 63) else value


def image_stats(image: npt.NDArray[np.uint8]) -> dict[str, Any]:
    """The DetectionEvent ``image_stats`` record: luma mean and spread in 0..1, variance of the
    Laplacian (low = blurred), dhash."""
    grey = luma(image)
    mean, std = cv2.meanStdDev(grey)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return {
        "brightness": float(mean[0][0]) / 255.0,
        "contrast": float(std[0][0]) / 255.0,
        "sharpness": float(lap.var()),
        "dhash": dhash(grey),
    }
