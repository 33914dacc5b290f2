"""Face models as the rest of Vigil sees them: enrol a person from face images, find the faces
in a frame. The implementation (the workers' face cascade, ``gpu_workers.faces``) is handed in
by the composition root, so the upload API, the dashboard and the CLI share it without
importing the model code."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vigil.errors import VigilError

log = logging.getLogger(__name__)
RETRY_LOAD_S = 60.0


class EnrollmentError(VigilError, ValueError):
    """The images cannot enrol the person; nothing was published."""


@dataclass(frozen=True)
class Enrollment:
    record: dict[str, Any]  # a vigil.PoiEnrollment, ready to publish on vigil.poi
    faces: int


class FaceModels(Protocol):
    """Loaded on first use; a failed load raises from the call that needed it."""

    def enroll(
        self,
        person_id: str,
        images: Sequence[tuple[str, bytes]],
        *,
        display_name: str | None = None,
        match_threshold: float | None = None,
    ) -> Enrollment:
        """Exactly one good face per encoded image, else :class:`EnrollmentError`."""
        ...

    def detect(self, image: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
        """The faces in a decoded BGR frame: ``{"label", "score", "box"}``, box normalized."""
        ...


class FaceFinder:
    """The face models' detector over a whole frame for ``component`` (the dashboard, the
    dataset copier); ``None`` for anything that goes wrong, which the caller answers by
    blurring the frame whole (fail closed). A failed first load is retried a minute later, so a
    ``vigil models prepare`` after start is picked up."""

    def __init__(self, faces: FaceModels, component: str = "face finder") -> None:
        self.models = faces
        self.component = component
        self._working = False
        self._retry_at = 0.0

    def faces(self, image: np.ndarray[Any, Any]) -> list[dict[str, Any]] | None:
        if not self._working and time.monotonic() < self._retry_at:
            return None
        try:
            found = self.models.detect(image)
        except Exception as exc:  # fail closed: the caller blurs the frame whole
            if not self._working:
                self._retry_at = time.monotonic() + RETRY_LOAD_S
            log.warning(
                "%s: face detection unavailable, frame blurred whole: %s", self.component, exc
            )
            return None
        self._working = True
        return found
