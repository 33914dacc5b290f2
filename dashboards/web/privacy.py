"""What a viewer may see of a frame, failing closed. Blurring detected boxes protects only the
faces that were looked for: a frame without its DetectionEvent yet (worker lagging or down,
frame dead-lettered), or one the face cascade did not run for, would show sharp faces. Such a
frame is blurred whole, withheld, or searched for faces here and now (``dashboard.
unchecked_frames``); anything that fails on the way blurs it whole. The POI role sees faces."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashboards.web.render import annotate
from vigil.errors import VigilError
from vigil.settings import VigilSettings

log = logging.getLogger(__name__)
BANNER = "faces not checked: blurred"
RETRY_LOAD_S = 60.0


class Withheld(VigilError):
    """The frame is not shown to this viewer at all (``unchecked_frames: withhold``)."""


@dataclass(frozen=True)
class Shown:
    jpeg: bytes
    privacy: str  # unblurred (POI role) | faces-blurred | faces-detected-now | blurred-whole


def faces_checked(detection: dict[str, Any] | None) -> bool:
    """Faces were looked for: the frame's detections exist and the face cascade ran for it
    (an event written before ``faces_searched`` existed reads as false)."""
    return detection is not None and detection.get("faces_searched") is True


class FaceFinder:
    """The face detector of the face cascade (``models.face_detector``, CenterFace by default)
    over the whole frame, loaded on first use; ``None`` for anything that goes wrong, which the
    caller answers by blurring the frame whole. A failed load is retried a minute later, so a
    ``vigil models prepare`` after start is picked up."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self._detector: Any = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> Any:
        from gpu_workers.models.centerface import CenterFaceAdapter
        from gpu_workers.models.loader import load_model

        m = self.settings.models
        detector = load_model(m.face_detector, self.settings.cache_dir, threads=m.threads)
        if not isinstance(detector, CenterFaceAdapter):
            raise TypeError(f"models.face_detector {m.face_detector!r} is not a face detector")
        return detector

    def faces(self, image: np.ndarray[Any, Any]) -> list[dict[str, Any]] | None:
        with self._lock:  # one inference at a time: the API's threads share one session
            try:
                if self._detector is None:
                    if time.monotonic() < self._retry_at:
                        return None
                    self._detector = self._load()
                (result,) = self._detector([image])
                return [
                    {"label": "face", "score": d.score, "box": d.box.as_dict()}
                    for d in result.detections
                ]
            except Exception as exc:  # fail closed: the caller blurs the frame whole
                if self._detector is None:
                    self._retry_at = time.monotonic() + RETRY_LOAD_S
                log.warning("dashboard face detection unavailable, frame blurred whole: %s", exc)
                return None


def viewer_image(
    image: np.ndarray[Any, Any],
    detection: dict[str, Any] | None,
    *,
    poi: bool,
    policy: str,
    finder: FaceFinder | None,
) -> Shown:
    """The JPEG this viewer may see. Only three things leave a face sharp: the POI role, a
    frame whose faces were looked for (their boxes are blurred), or faces found here (blurred
    too); every other way out is blurred whole or withheld."""
    detections = list((detection or {}).get("detections", []))
    if poi:
        return Shown(annotate(image, detections, blur_faces=False), "unblurred")
    if faces_checked(detection):
        return Shown(annotate(image, detections, blur_faces=True), "faces-blurred")
    if policy == "withhold":
        raise Withheld("faces in this frame were not looked for (dashboard.unchecked_frames)")
    if policy == "detect" and finder is not None:
        found = finder.faces(image)
        if found is not None:
            return Shown(annotate(image, detections + found, blur_faces=True), "faces-detected-now")
    return Shown(
        annotate(image, detections, blur_faces=True, blur_whole=True, banner=BANNER),
        "blurred-whole",
    )
