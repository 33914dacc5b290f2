"""Face enrolment and face finding with the workers' own face cascade (detector, quality gate,
embedder): the :class:`vigil.faces.FaceModels` the composition root hands to the upload API,
the dashboard and ``vigil poi enrol``."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from gpu_workers.models.base import Image
from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.loader import load_model
from gpu_workers.settings import GpuWorkersSettings
from vigil.faces import Enrollment, EnrollmentError


def decode_image(data: bytes, name: str) -> Image:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise EnrollmentError(f"{name}: not a decodable image")
    return np.asarray(array, dtype=np.uint8)


def load_cascade(settings: GpuWorkersSettings) -> FaceCascade:
    """The same face cascade (detector, quality gate, embedder) the workers run."""
    m = settings.models
    detector = load_model(m.face_detector, settings.cache_dir, threads=m.threads)
    embedder = load_model(m.embedder, settings.cache_dir, threads=m.threads)
    if not isinstance(detector, CenterFaceAdapter) or not isinstance(embedder, EmbedderAdapter):
        raise EnrollmentError("models.face_detector/embedder must be a face detector/embedder")
    return FaceCascade(detector, embedder, min_face_px=m.min_face_px, min_sharpness=m.min_sharpness)


def build_enrollment(
    cascade: FaceCascade,
    person_id: str,
    images: Sequence[tuple[str, Image]],
    *,
    display_name: str | None = None,
    match_threshold: float | None = None,
) -> Enrollment:
    """Exactly one face passing the quality gate per image, else :class:`EnrollmentError`
    naming every image at fault (a group photo would enrol the wrong person)."""
    if not images:
        raise EnrollmentError("at least one image is needed")
    vectors: list[list[float]] = []
    problems: list[str] = []
    model = ""
    for name, image in images:
        result = cascade(image)
        model = f"{result.embedder.name}:{result.embedder.event_version}"
        if len(result.faces) == 1:
            vectors.append([float(v) for v in result.faces[0].embedding])
        elif not result.faces:
            why = "; ".join(r.reason for r in result.rejected)
            problems.append(f"{name}: no usable face" + (f" ({why})" if why else ""))
        else:
            problems.append(f"{name}: {len(result.faces)} faces, need exactly one")
    if problems:
        raise EnrollmentError("; ".join(problems))
    record: dict[str, Any] = {
        "person_id": person_id,
        "display_name": display_name,
        "embedding_model": model,
        "embeddings": vectors,
        "match_threshold": match_threshold,
        "enrolled_ts_ms": int(time.time() * 1000),
        "tags": {},
    }
    return Enrollment(record, len(vectors))


def load_face_detector(settings: GpuWorkersSettings) -> CenterFaceAdapter:
    """The face detector of the cascade (``models.face_detector``, CenterFace by default)."""
    m = settings.models
    detector = load_model(m.face_detector, settings.cache_dir, threads=m.threads)
    if not isinstance(detector, CenterFaceAdapter):
        raise TypeError(f"models.face_detector {m.face_detector!r} is not a face detector")
    return detector


class CascadeFaces:
    """:class:`vigil.faces.FaceModels` over the face cascade; each model loads on first use, once
    per process, and one inference runs at a time (the API's threads share one session)."""

    def __init__(self, settings: GpuWorkersSettings) -> None:
        self.settings = settings
        self._cascade: FaceCascade | None = None
        self._detector: CenterFaceAdapter | None = None
        self._lock = threading.Lock()

    def enroll(
        self,
        person_id: str,
        images: Sequence[tuple[str, bytes]],
        *,
        display_name: str | None = None,
        match_threshold: float | None = None,
    ) -> Enrollment:
        decoded = [(name, decode_image(data, name)) for name, data in images]
        with self._lock:
            if self._cascade is None:
                self._cascade = load_cascade(self.settings)
            return build_enrollment(
                self._cascade,
                person_id,
                decoded,
                display_name=display_name,
                match_threshold=match_threshold,
            )

    def detect(self, image: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if self._detector is None:
                self._detector = load_face_detector(self.settings)
            (result,) = self._detector([image])
        return [
            {"label": "face", "score": d.score, "box": d.box.as_dict()} for d in result.detections
        ]
