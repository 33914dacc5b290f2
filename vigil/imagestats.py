"""Image statistics a DetectionEvent carries (``image_stats``), computed once per frame.

Shared by the inference workers (which fill the event) and the drift stream's tests and
benchmarks (which build realistic events from real frames), so both agree on the definitions:
brightness and contrast are the mean and standard deviation of luma in 0..1, sharpness the
variance of the Laplacian of luma (a standard focus measure: blur makes it collapse), and dhash a
64-bit difference hash of luma (identical on a frozen feed, robust to re-encoding noise).
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


class ImageStats(TypedDict):
    brightness: float
    contrast: float
    sharpness: float
    dhash: int | None


def luma(image: Image) -> Image:
    """8-bit luma of a BGR (3-channel) or grey (2-D) frame."""
    import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV

    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    raise ValueError(f"expected a BGR or grey image, got shape {image.shape}")


def dhash(grey: Image) -> int:
    """64-bit difference hash: each bit says whether a pixel of the 9x8 thumbnail is brighter
    than its right neighbour. Returned as a signed 64-bit integer (Avro ``long``)."""
    import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV

    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= (1 << 63) else value


def image_stats(image: Image) -> ImageStats:
    """The ``image_stats`` record of one frame."""
    import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV

    grey = luma(image)
    mean, std = cv2.meanStdDev(grey)
    lap = cv2.Laplacian(grey, cv2.CV_64F)
    return {
        "brightness": float(mean[0][0]) / 255.0,
        "contrast": float(std[0][0]) / 255.0,
        "sharpness": float(lap.var()),
        "dhash": dhash(grey),
    }
