"""Face models as the rest of Vigil sees them: enrol a person from face images, find the faces
in a frame. The implementation (the workers' face cascade, ``gpu_workers.faces``) is handed in
by the composition root, so the upload API, the dashboard and the CLI share it without
importing the model code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class EnrollmentError(ValueError):
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
