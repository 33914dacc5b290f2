"""A frame as the dashboard shows it: decoded (JPEG/PNG/WebP/BMP or raw), faces blurred (or the
whole frame) as dashboards/web/privacy.py decides, detection boxes and labels drawn, JPEG out."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vigil.blobs import BlobResolver
from vigil.blur import blur_region, blur_whole
from vigil.errors import VigilError

MIN_WIDTH = 320  # tiny synthetic frames are scaled up so the labels stay readable
PRIVATE_LABELS = ("face",)
HEAD_SHARE = 0.2  # of a person box, blurred too: faces the face cascade did not look for


class RenderError(VigilError, ValueError):
    """The frame cannot be shown (missing blob, undecodable, over the pixel limit)."""


def decode(event: dict[str, Any], resolver: BlobResolver, max_pixels: int) -> np.ndarray[Any, Any]:
    width, height = int(event["width"]), int(event["height"])
    if width * height > max_pixels:
        raise RenderError(f"{width}x{height} is over the pixel limit {max_pixels}")
    try:
        data = resolver.resolve(event)
    except (OSError, ValueError) as exc:
        raise RenderError(str(exc)) from None
    encoding = event.get("encoding")
    raw = np.frombuffer(data, np.uint8)
    if encoding == "RAW_GRAY8" and raw.size == width * height:
        return cv2.cvtColor(raw.reshape(height, width), cv2.COLOR_GRAY2BGR)
    if encoding == "RAW_BGR24" and raw.size == width * height * 3:
        return raw.reshape(height, width, 3).copy()
    image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if image is None:
        raise RenderError(f"frame {event.get('frame_id')} does not decode as {encoding}")
    return np.asarray(image, np.uint8)


def _blur_whole(image: np.ndarray[Any, Any], banner: str) -> None:
    """Blurred whole (vigil.blur), a dark strip saying why."""
    blur_whole(image)
    w = image.shape[1]
    if banner:
        (tw, th), _ = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(image, (0, 0), (min(w, tw + 12), th + 12), (30, 30, 30), -1)
        cv2.putText(image, banner, (6, th + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)


def annotate(
    image: np.ndarray[Any, Any],
    detections: list[dict[str, Any]],
    *,
    blur_faces: bool,
    blur_whole: bool = False,
    banner: str = "",
) -> bytes:
    """The JPEG a browser is sent. ``blur_whole``: the frame's faces were not looked for, so
    every pixel is blurred before the boxes are drawn (dashboards/web/privacy.py decides)."""
    if image.shape[1] < MIN_WIDTH:
        scale = MIN_WIDTH / image.shape[1]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    else:
        image = image.copy()
    h, w = image.shape[:2]

    def px(d: dict[str, Any]) -> tuple[int, int, int, int]:
        b = d["box"]
        edges = np.asarray([b["x_min"], b["y_min"], b["x_max"], b["y_max"]], np.float64)
        if not np.isfinite(edges).all():  # NaN/inf from a custom model: the whole frame (a
            edges = np.asarray([0.0, 0.0, 1.0, 1.0])  # private box still blurs), never a 500
        x0, y0, x1, y1 = np.clip(edges, 0, 1) * (w, h, w, h)
        return int(x0), int(y0), int(x1), int(y1)

    if blur_whole:
        _blur_whole(image, banner)
    elif blur_faces:
        for d in detections:
            x0, y0, x1, y1 = px(d)
            if d["label"] in PRIVATE_LABELS:
                blur_region(image, x0, y0, x1, y1)
            elif d["label"] == "person":
                blur_region(image, x0, y0, x1, y0 + max(1, int((y1 - y0) * HEAD_SHARE)))
    for d in detections:
        x0, y0, x1, y1 = px(d)
        color = (0, 200, 255) if d["label"] in PRIVATE_LABELS else (60, 220, 60)
        cv2.rectangle(image, (x0, y0), (x1, y1), color, 2)
        text = f"{d['label']} {d['score']:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        ty = max(th + 4, y0)
        cv2.rectangle(image, (x0, ty - th - 4), (x0 + tw + 4, ty), color, -1)
        cv2.putText(image, text, (x0 + 2, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RenderError("JPEG encoding failed")
    return bytes(buf.tobytes())
