"""What a viewer may see of a frame, failing closed. Blurring detected boxes protects only the
faces that were looked for: a frame without its DetectionEvent yet (worker lagging or down,
frame dead-lettered), or one the face cascade did not run for, would show sharp faces. Such a
frame is blurred whole, withheld, or searched for faces here and now (``dashboard.
unchecked_frames``); anything that fails on the way blurs it whole. The POI role sees faces."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from dashboards.web.render import annotate
from vigil import faces as faces_module
from vigil.errors import VigilError
from vigil.faces import FaceModels

log = logging.getLogger(__name__)
BANNER = "faces not checked: blurred"


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


class FaceFinder(faces_module.FaceFinder):
    """The face models for the dashboard (vigil.faces.FaceFinder; the composition root hands
    in :class:`vigil.faces.FaceModels`, which loads nothing until a frame needs it)."""

    def __init__(self, faces: FaceModels) -> None:
        super().__init__(faces, "dashboard")


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
