"""What adapters return: small frozen records that carry the model's identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from schemas.types import BoundingBox
from schemas.types import Detection as DetectionRecord


@dataclass(frozen=True)
class ModelIdentity:
    """Recorded on every output so a DetectionEvent says exactly which weights produced it."""

    name: str
    version: str
    sha256: str = ""

    @property
    def sha256_prefix(self) -> str:
        return self.sha256[:12]

    @property
    def event_version(self) -> str:
        """``model_version`` as DetectionEvents record it: the version and the weights' hash,
        so a retrained file under the same version still gets its own id."""
        return f"{self.version}+{self.sha256_prefix}" if self.sha256 else self.version

    def __str__(self) -> str:
        suffix = f"@{self.sha256_prefix}" if self.sha256 else ""
        return f"{self.name}:{self.version}{suffix}"


@dataclass(frozen=True)
class Box:
    """Normalised corners in [0, 1] of the image the detection was made on."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        return (
            round(self.x_min * width),
            round(self.y_min * height),
            round(self.x_max * width),
            round(self.y_max * height),
        )

    def as_dict(self) -> BoundingBox:
        return {"x_min": self.x_min, "y_min": self.y_min, "x_max": self.x_max, "y_max": self.y_max}


@dataclass(frozen=True)
class Detection:
    label: str
    class_id: int
    score: float
    box: Box
    landmarks: tuple[tuple[float, float], ...] | None = None  # pixels of the source image
    embedding: npt.NDArray[np.float32] | None = field(default=None, compare=False)


class EventFields(TypedDict):
    """The DetectionEvent fields one model's result fills."""

    model_name: str
    model_version: str
    frame_width: int
    frame_height: int
    detections: list[DetectionRecord]


@dataclass(frozen=True)
class Detections:
    """One image's result from one model."""

    model: ModelIdentity
    width: int
    height: int
    detections: tuple[Detection, ...]

    def labels(self) -> list[str]:
        return [d.label for d in self.detections]

    def event_fields(self) -> EventFields:
        """The DetectionEvent fields this result fills (the worker adds ids and times)."""
        return {
            "model_name": self.model.name,
            "model_version": self.model.event_version,
            "frame_width": self.width,
            "frame_height": self.height,
            "detections": [
                {
                    "label": d.label,
                    "class_id": d.class_id,
                    "score": d.score,
                    "box": d.box.as_dict(),
                    "embedding": None if d.embedding is None else [float(v) for v in d.embedding],
                    "track_id": None,
                }
                for d in self.detections
            ],
        }
