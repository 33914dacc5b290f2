"""Face embedders: align each face with its 5 landmarks (similarity transform onto a fixed
template), run the network, L2-normalise. Cosine similarity is then a dot product."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from gpu_workers.models.base import (
    Adapter,
    Image,
    Placement,
    Tensor,
    as_image,
    check_image,
    to_input,
)
from gpu_workers.models.spec import SpecError

# ArcFace's 112x112 template: eyes, nose tip, mouth corners (the de-facto standard)
ARCFACE_TEMPLATE = np.asarray(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)

Landmarks = Sequence[tuple[float, float]]


def template_for(size: tuple[int, int], face_scale: float) -> npt.NDArray[np.float32]:
    """The template scaled to ``size``; ``face_scale`` < 1 leaves more margin around the face
    (HSE FaceRes was trained on loose VGGFace2 crops, ArcFace on tight ones)."""
    width, height = size
    centred = (ARCFACE_TEMPLATE - 56.0) * face_scale + 56.0
    return (centred * np.asarray([width / 112.0, height / 112.0], np.float32)).astype(np.float32)


def align_face(
    image: Image, landmarks: Landmarks, size: tuple[int, int], face_scale: float
) -> Image:
    """Warp the face so its 5 landmarks land on the template (rotation, scale, shift only)."""
    check_image(image)
    src = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(src, template_for(size, face_scale), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("cannot align a face: its landmarks are degenerate")
    return as_image(
        cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    )


def l2_normalise(x: Tensor) -> Tensor:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


class EmbedderAdapter(Adapter[npt.NDArray[np.float32]]):
    """Takes aligned crops (see ``align_face``) and returns unit-length embeddings."""

    def check_model(self) -> None:
        super().check_model()
        shapes = self.engine.output_shapes()
        shape = shapes.get(self.engine.output_names[0], ())
        want = self.spec.embedding_size
        if want is not None and len(shape) == 2 and isinstance(shape[1], int) and shape[1] != want:
            raise SpecError(
                f"{self.spec.name}: embedding_size: spec says {want}, model gives {shape[1]}"
            )

    @property
    def crop_size(self) -> tuple[int, int]:
        if self.spec.input_size is None:
            raise SpecError(f"{self.spec.name}: input_size: an embedder needs one")
        return self.spec.input_size

    def align(self, image: Image, landmarks: Landmarks) -> Image:
        return align_face(image, landmarks, self.crop_size, self.spec.face_scale)

    def preprocess(self, images: Sequence[Image]) -> tuple[Tensor, list[Placement]]:
        size = self.crop_size
        crops = [
            i if i.shape[:2] == (size[1], size[0]) else as_image(cv2.resize(i, size))
            for i in images
        ]
        places = [Placement(i.shape[1], i.shape[0], 1.0, 1.0) for i in images]
        return to_input(crops, self.spec, size), places

    def postprocess(
        self, outputs: list[Tensor], placements: list[Placement]
    ) -> list[npt.NDArray[np.float32]]:
        vectors = l2_normalise(outputs[0].reshape(len(placements), -1))
        return list(vectors)
