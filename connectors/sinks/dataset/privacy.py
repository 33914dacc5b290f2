"""What of a chosen frame goes into the dataset, failing closed as the dashboard does
(``dashboards/web/privacy.py``): a labeller must not see a face the settings did not allow.

- ``dataset.keep_faces``: the frame as it is (``unblurred``);
- the face cascade ran for the frame (``faces_searched``): its face boxes, and the head of
  every person box, are blurred (``faces-blurred``);
- otherwise the injected face finder (:class:`vigil.faces.FaceModels`) looks now
  (``faces-detected-now``); if there is none, or it fails, the frame is blurred whole
  (``blurred-whole``) and the record says so."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vigil import faces as faces_module
from vigil.blur import blur_region, blur_whole
from vigil.errors import VigilError
from vigil.faces import FaceModels

log = logging.getLogger(__name__)
PRIVATE_LABELS = ("face",)
HEAD_SHARE = 0.2  # of a person box: a face the cascade may have missed
Image = np.ndarray[Any, Any]


class UndecodableFrame(VigilError, ValueError):
    """The frame's bytes do not decode as an image."""


@dataclass(frozen=True)
class Protected:
    jpeg: bytes
    privacy: str  # unblurred | faces-blurred | faces-detected-now | blurred-whole
    width: int
    height: int
    blurred_boxes: int = 0


class FaceFinder(faces_module.FaceFinder):
    """The face models for the dataset copier (vigil.faces.FaceFinder)."""

    def __init__(self, faces: FaceModels) -> None:
        super().__init__(faces, "dataset copier")


def decode(data: bytes, encoding: str, width: int, height: int, max_pixels: int) -> Image:
    """A BGR image of a FrameEvent's bytes (raw or encoded); refuses oversize frames."""
    if width * height > max_pixels:
        raise UndecodableFrame(f"{width}x{height} is over dataset.max_pixels ({max_pixels})")
    raw = np.frombuffer(data, np.uint8)
    if encoding == "RAW_GRAY8" and raw.size == width * height:
        return np.asarray(cv2.cvtColor(raw.reshape(height, width), cv2.COLOR_GRAY2BGR))
    if encoding == "RAW_BGR24" and raw.size == width * height * 3:
        return raw.reshape(height, width, 3).copy()
    image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if image is None:
        raise UndecodableFrame(f"{len(data)} bytes do not decode as {encoding}")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise UndecodableFrame(f"decoded frame is over dataset.max_pixels ({max_pixels})")
    return np.asarray(image)


def _pixels(box: Mapping[str, float], w: int, h: int) -> tuple[int, int, int, int]:
    edges = np.asarray([box["x_min"], box["y_min"], box["x_max"], box["y_max"]], np.float64)
    if not np.isfinite(edges).all():  # a broken box still hides what it may cover
        edges = np.asarray([0.0, 0.0, 1.0, 1.0])
    x0, y0, x1, y1 = np.clip(edges, 0, 1) * (w, h, w, h)
    return int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))


def blur_faces(image: Image, detections: Sequence[Mapping[str, Any]]) -> int:
    """Blur face boxes and person heads in place; how many regions were blurred."""
    h, w = image.shape[:2]
    n = 0
    for d in detections:
        x0, y0, x1, y1 = _pixels(d["box"], w, h)
        if d["label"] in PRIVATE_LABELS:
            blur_region(image, x0, y0, x1, y1)
            n += 1
        elif d["label"] == "person":
            blur_region(image, x0, y0, x1, y0 + max(1, int((y1 - y0) * HEAD_SHARE)))
            n += 1
    return n


def _jpeg(image: Image, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UndecodableFrame("JPEG encoding failed")
    return bytes(buf.tobytes())


def protect(
    data: bytes,
    frame: Mapping[str, Any],
    sample: Mapping[str, Any],
    *,
    keep_faces: bool,
    finder: FaceFinder | None,
    quality: int,
    max_pixels: int,
) -> Protected:
    """The JPEG the dataset keeps of ``frame`` (a FrameEvent whose bytes are ``data``)."""
    encoding = str(frame.get("encoding", "UNKNOWN"))
    image = decode(data, encoding, int(frame["width"]), int(frame["height"]), max_pixels)
    h, w = image.shape[:2]
    if keep_faces:
        jpeg = data if encoding == "JPEG" else _jpeg(image, quality)
        return Protected(jpeg, "unblurred", w, h)
    detections = list(sample.get("detections", []))
    if sample.get("faces_searched") is True:
        privacy = "faces-blurred"
    else:
        found = finder.faces(image) if finder is not None else None
        if found is None:
            blur_whole(image)
            return Protected(_jpeg(image, quality), "blurred-whole", w, h)
        detections += found
        privacy = "faces-detected-now"
    n = blur_faces(image, detections)
    if n == 0 and encoding == "JPEG":  # nothing to hide: the original bytes, no re-encoding
        return Protected(data, privacy, w, h)
    return Protected(_jpeg(image, quality), privacy, w, h, n)
