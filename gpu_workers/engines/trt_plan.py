"""The host-side arithmetic of the TensorRT engine, kept free of TensorRT and CUDA so it is
unit-tested on any machine: optimisation-profile shapes, the engine cache key, buffer sizes,
and splitting / padding batches to the profile."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# dynamic spatial axes (CenterFace): min / opt / max pixels when the spec does not fix them
SPATIAL_RANGE = (32, 640, 1280)


@dataclass(frozen=True)
class ProfileShapes:
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def profile_shapes(
    shape: tuple[int | None, ...],
    max_batch: int,
    opt_batch: int | None = None,
    spatial: tuple[int, int, int] = SPATIAL_RANGE,
) -> ProfileShapes:
    """min/opt/max for an input whose axis 0 is the batch: 1 / ``opt_batch`` (default half
    of ``max_batch``) / ``max_batch``; other dynamic axes take the ``spatial`` range."""
    if max_batch < 1:
        raise ValueError("max_batch must be >= 1")
    opt = opt_batch or max(1, max_batch // 2)
    if not 1 <= opt <= max_batch:
        raise ValueError(f"opt_batch {opt} must be within 1..{max_batch}")
    if shape and shape[0] is not None and shape[0] != max_batch and shape[0] != 1:
        raise ValueError(f"the model's batch axis is fixed at {shape[0]}")
    fixed_batch = shape[0] if shape and shape[0] is not None else None

    def pick(which: int, batch: int) -> tuple[int, ...]:
        dims = [fixed_batch or batch]
        dims += [spatial[which] if d is None else d for d in shape[1:]]
        return tuple(dims)

    return ProfileShapes(pick(0, 1), pick(1, opt), pick(2, max_batch))


def cache_key(
    gpu_name: str, trt_version: str, onnx_sha256: str, profile: ProfileShapes, fp16: bool
) -> str:
    """Engine file name: a plan only runs on the GPU model and TensorRT version that built it,
    for the exact ONNX bytes and profile it was built with."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    dims = "x".join(str(d) for d in profile.max)
    opt = "x".join(str(d) for d in profile.opt)
    precision = "fp16" if fp16 else "fp32"
    return f"{gpu}_trt{trt_version}_{onnx_sha256[:16]}_max{dims}_opt{opt}_{precision}.plan"


def buffer_bytes(shape: tuple[int, ...], dtype: npt.DTypeLike) -> int:
    """Bytes of one host or device buffer for ``shape`` (the profile's max shape)."""
    if any(d < 0 for d in shape):
        raise ValueError(f"cannot size a buffer for a dynamic shape {shape}")
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def split(n: int, max_batch: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``max_batch`` covering ``n`` items."""
    if max_batch < 1:
        raise ValueError("max_batch must be >= 1")
    return [(i, min(n, i + max_batch)) for i in range(0, n, max_batch)]


def pad(batch: npt.NDArray[np.generic], size: int) -> npt.NDArray[np.generic]:
    """Pad the batch axis with zeros up to ``size`` (engines with a fixed batch); outputs of
    the padding rows are cut off by the caller."""
    n = batch.shape[0]
    if n > size:
        raise ValueError(f"batch of {n} does not fit a batch of {size}")
    if n == size:
        return batch
    filler = np.zeros((size - n, *batch.shape[1:]), dtype=batch.dtype)
    return np.concatenate([batch, filler], axis=0)
