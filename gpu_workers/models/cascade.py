"""The face cascade as one step: persons (or the whole frame) -> faces -> quality gate
(minimum size, sharpness) -> aligned crops -> embeddings. Faces that fail the gate are
returned with the reason, not dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from gpu_workers.models.base import Image, check_image
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.finite import count_dropped
from gpu_workers.models.nms import nms
from gpu_workers.models.types import Box, Detection, ModelIdentity


@dataclass(frozen=True)
class Face:
    detection: Detection  # box normalised to the frame, landmarks in frame pixels
    embedding: npt.NDArray[np.float32]
    sharpness: float


@dataclass(frozen=True)
class RejectedFace:
    detection: Detection
    reason: str


@dataclass(frozen=True)
class CascadeResult:
    detector: ModelIdentity
    embedder: ModelIdentity
    faces: tuple[Face, ...]
    rejected: tuple[RejectedFace, ...]


def sharpness(image: Image) -> float:
    """Variance of the Laplacian on the grey face region: low means blurred."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


class FaceCascade:
    def __init__(
        self,
        detector: CenterFaceAdapter,
        embedder: EmbedderAdapter,
        *,
        min_face_px: int = 20,
        min_sharpness: float = 5.0,
        person_margin: float = 0.1,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.min_face_px = min_face_px
        self.min_sharpness = min_sharpness
        self.person_margin = person_margin

    def __call__(self, image: Image, persons: Sequence[Box] | None = None) -> CascadeResult:
        check_image(image)
        height, width = image.shape[:2]
        regions = self._regions(width, height, persons)
        crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in regions]
        found: list[Detection] = []
        for (x1, y1, _, _), result in zip(regions, self.detector(crops), strict=True):
            for d in result.detections:
                bx = d.box.to_pixels(result.width, result.height)
                found.append(
                    Detection(
                        label=d.label,
                        class_id=d.class_id,
                        score=d.score,
                        box=Box(
                            (bx[0] + x1) / width,
                            (bx[1] + y1) / height,
                            (bx[2] + x1) / width,
                            (bx[3] + y1) / height,
                        ),
                        landmarks=tuple((x + x1, y + y1) for x, y in d.landmarks or ()),
                    )
                )
        found = self._dedupe(found)
        accepted: list[tuple[Detection, float]] = []
        rejected: list[RejectedFace] = []
        for d in found:
            x1, y1, x2, y2 = d.box.to_pixels(width, height)
            side = min(x2 - x1, y2 - y1)
            if side < self.min_face_px:
                rejected.append(RejectedFace(d, f"too small: {side} px < {self.min_face_px} px"))
                continue
            sharp = sharpness(image[y1:y2, x1:x2])
            if sharp < self.min_sharpness:
                rejected.append(
                    RejectedFace(d, f"too blurred: sharpness {sharp:.1f} < {self.min_sharpness}")
                )
                continue
            if d.landmarks is None or len(d.landmarks) != 5:
                rejected.append(RejectedFace(d, "no 5-point landmarks to align with"))
                continue
            accepted.append((d, sharp))
        aligned = [self.embedder.align(image, d.landmarks or ()) for d, _ in accepted]
        vectors = self.embedder(aligned)
        faces: list[Face] = []
        for (d, s), v in zip(accepted, vectors, strict=True):
            if np.isfinite(v).all():
                faces.append(Face(d, v, s))
            else:  # a NaN embedding would match no one, or everyone: never emitted
                count_dropped(self.embedder.spec.name, 1)
                rejected.append(RejectedFace(d, "embedding has NaN or infinite values"))
        return CascadeResult(
            self.detector.identity, self.embedder.identity, tuple(faces), tuple(rejected)
        )

    def _regions(
        self, width: int, height: int, persons: Sequence[Box] | None
    ) -> list[tuple[int, int, int, int]]:
        if not persons:
            return [(0, 0, width, height)]
        out = []
        for box in persons:
            mx = (box.x_max - box.x_min) * self.person_margin
            my = (box.y_max - box.y_min) * self.person_margin
            x1 = max(0, int((box.x_min - mx) * width))
            y1 = max(0, int((box.y_min - my) * height))
            x2 = min(width, int(np.ceil((box.x_max + mx) * width)))
            y2 = min(height, int(np.ceil((box.y_max + my) * height)))
            if x2 - x1 >= 8 and y2 - y1 >= 8:
                out.append((x1, y1, x2, y2))
        return out

    @staticmethod
    def _dedupe(faces: list[Detection]) -> list[Detection]:
        """Overlapping person boxes can find the same face twice; keep the best one."""
        if len(faces) < 2:
            return faces
        boxes = np.asarray(
            [[f.box.x_min, f.box.y_min, f.box.x_max, f.box.y_max] for f in faces], np.float32
        )
        scores = np.asarray([f.score for f in faces], np.float32)
        return [faces[int(i)] for i in nms(boxes, scores, 0.5, len(faces))]
