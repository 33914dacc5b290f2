"""The adapter contract: preprocess -> predict -> postprocess, with batching in predict alone,
so the same adapter serves one image from the CLI and a batch of 8 from a worker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt

from gpu_workers.engines.base import Engine
from gpu_workers.models.spec import ModelSpec, SpecError
from gpu_workers.models.types import ModelIdentity

Image = npt.NDArray[np.uint8]  # H x W x 3, BGR (as OpenCV decodes)
Tensor = npt.NDArray[np.float32]
R = TypeVar("R")
ResizeMode = Literal["stretch", "letterbox"]


@dataclass(frozen=True)
class Placement:
    """Where one source image sits in the network input: scale, then padding (pixels)."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0


class Adapter(ABC, Generic[R]):
    """One model family's pre- and post-processing around an engine."""

    def __init__(self, spec: ModelSpec, engine: Engine, identity: ModelIdentity) -> None:
        self.spec = spec
        self.engine = engine
        self.identity = identity
        self.check_model()

    def check_model(self) -> None:
        """Compare the spec with what the file declares; a mismatch is a SpecError."""
        layout_channels = 1 if self.spec.layout == "nchw" else -1
        shape = self.engine.input_spec.shape
        if len(shape) != 4:
            raise SpecError(f"{self.spec.name}: input must be 4-D, the model's is {shape}")
        channels = shape[layout_channels]
        if channels is not None and channels != 3:
            raise SpecError(
                f"{self.spec.name}: layout: spec says {self.spec.layout} but the model's input "
                f"{list(shape)} has {channels} channels on that axis"
            )

    @abstractmethod
    def preprocess(self, images: Sequence[Image]) -> tuple[Tensor, list[Placement]]: ...

    def resize_mode(self) -> ResizeMode | None:
        """How :meth:`preprocess` fits an image to ``spec.input_size`` when it is the plain
        resize + :func:`to_input` the torch path reproduces on a GPU; None: it is not."""
        return None

    def predict(self, batch: Tensor) -> list[Tensor]:
        return self.engine.infer_chunked(batch)

    @abstractmethod
    def postprocess(self, outputs: list[Tensor], placements: list[Placement]) -> list[R]: ...

    def __call__(self, images: Sequence[Image]) -> list[R]:
        if not images:
            return []
        batch, placements = self.preprocess(images)
        return self.postprocess(self.predict(batch), placements)


def as_image(array: object) -> Image:
    """OpenCV's results typed as what they are: uint8 pixels."""
    return np.asarray(array, dtype=np.uint8)


def check_image(image: Image) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"images must be H x W x 3 uint8 (BGR); got shape {image.shape} {image.dtype}"
        )


def to_input(images: Sequence[Image], spec: ModelSpec, size: tuple[int, int]) -> Tensor:
    """Resized (already) BGR uint8 images of one size -> the network's tensor."""
    stack = np.stack(images)
    if spec.colour_order == "rgb":
        stack = stack[..., ::-1]
    if spec.input_dtype == "uint8":
        out: npt.NDArray[np.generic] = np.ascontiguousarray(stack)
    else:
        x = stack.astype(np.float32) * np.float32(spec.scale)
        if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
            mean, std = np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
            x = ((x - mean) / std).astype(np.float32)
        out = x
    if spec.layout == "nchw":
        out = out.transpose(0, 3, 1, 2)
    # uint8-input models get uint8; the engine checks the dtype against the file
    return cast(Tensor, np.ascontiguousarray(out))


def resize_all(
    images: Sequence[Image], size: tuple[int, int], letterbox: bool
) -> tuple[list[Image], list[Placement]]:
    """Stretch (TF-style) or letterbox (Ultralytics-style, grey 114 padding) to ``size``."""
    import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV

    width, height = size
    out: list[Image] = []
    places: list[Placement] = []
    for image in images:
        check_image(image)
        h, w = image.shape[:2]
        if not letterbox:
            out.append(as_image(cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)))
            places.append(Placement(w, h, width / w, height / h))
            continue
        place = letterbox_place(w, h, size)
        nw, nh = round_size(place)
        canvas = np.full((height, width, 3), LETTERBOX_GREY, dtype=np.uint8)
        px, py = int(place.pad_x), int(place.pad_y)
        canvas[py : py + nh, px : px + nw] = cv2.resize(
            image, (nw, nh), interpolation=cv2.INTER_LINEAR
        )
        out.append(canvas)
        places.append(place)
    return out, places


LETTERBOX_GREY = 114


def letterbox_place(w: int, h: int, size: tuple[int, int]) -> Placement:
    """Where a ``w`` x ``h`` image sits letterboxed in ``size``: one scale, centred padding
    (shared by the OpenCV path above and the torch path, ``gpu_workers.gpu``)."""
    width, height = size
    s = min(width / w, height / h)
    # a 1 x 2000 frame still covers at least one pixel of the input (never a 0-wide resize)
    nw, nh = min(width, max(1, round(w * s))), min(height, max(1, round(h * s)))
    return Placement(w, h, s, s, (width - nw) // 2, (height - nh) // 2)


def round_size(place: Placement) -> tuple[int, int]:
    """The resized image's (width, height) inside a letterbox placement."""
    nw = max(1, round(place.width * place.scale_x))
    nh = max(1, round(place.height * place.scale_y))
    return nw, nh
