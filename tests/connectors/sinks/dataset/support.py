"""Shared by the dataset tests: textured JPEGs (a real photo, so blurring shows), Sample
records for frames, a face finder double, pixel comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vigil.faces import Enrollment
from vigil.testing import media

FACE = {"x_min": 0.35, "y_min": 0.1, "x_max": 0.65, "y_max": 0.5}


def jpegs(count: int) -> list[bytes]:
    """``count`` distinct 320x240 JPEGs of scikit-image's astronaut (shifted a little each)."""
    base = cv2.resize(media.still("astronaut"), (340, 240), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(count):
        ok, buf = cv2.imencode(
            ".jpg", base[:, i % 20 : i % 20 + 320], [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(buf.tobytes())
    return out


def decode(data: bytes) -> np.ndarray[Any, Any]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not an image")
    return np.asarray(image, np.float64)


def region_diff(a: bytes, b: bytes, box: dict[str, float], inside: bool) -> float:
    """Mean absolute pixel difference inside ``box`` (or outside it, with a margin)."""
    x, y = decode(a), decode(b)
    h, w = x.shape[:2]
    mask = np.zeros((h, w), bool)
    x0, y0 = int(box["x_min"] * w), int(box["y_min"] * h)
    x1, y1 = int(box["x_max"] * w), int(box["y_max"] * h)
    if inside:
        mask[y0:y1, x0:x1] = True
    else:
        mask[:] = True
        mask[max(0, y0 - 8) : y1 + 8, max(0, x0 - 8) : x1 + 8] = False
    return float(np.abs(x - y)[mask].mean())


def sample(
    frame: dict[str, Any], *, faces_searched: bool, detections: Sequence[Any] = ()
) -> dict[str, Any]:
    return {
        "sample_id": f"{frame['frame_id']}@v1",
        "frame_id": frame["frame_id"],
        "camera_id": frame["camera_id"],
        "sequence": frame["sequence"],
        "capture_ts_ms": frame["capture_ts_ms"],
        "model_name": "ssd",
        "model_version": "v1",
        "frame_width": 320,
        "frame_height": 240,
        "reasons": [{"kind": "UNCERTAIN", "detail": "person 0.450 in [0.3, 0.6)"}],
        "detections": list(detections),
        "faces_searched": faces_searched,
        "chosen_ts_ms": frame["capture_ts_ms"] + 500,
    }


def face(box: dict[str, float] = FACE, label: str = "face") -> dict[str, Any]:
    return {"label": label, "class_id": 0, "score": 0.9, "box": dict(box)}


class FoundFaces:
    """A face finder that finds one face at ``FACE`` (the copier's injected FaceModels)."""

    def __init__(self) -> None:
        self.calls = 0

    def enroll(self, person_id: str, images: Any, **_: Any) -> Enrollment:
        raise NotImplementedError

    def detect(self, image: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
        self.calls += 1
        return [{"label": "face", "score": 0.8, "box": dict(FACE)}]
