"""Image statistics (``vigil.imagestats``: brightness, contrast, sharpness, dhash) computed on
the device from the decoded tensors, frames of one size in one batched call.

The definitions are the CPU path's, reproduced op for op: OpenCV's fixed-point luma, the mean
and population standard deviation of luma, the variance of the 4-neighbour Laplacian with
reflect-101 borders, and a 9 x 8 area-averaged thumbnail for the dhash. Luma, brightness,
contrast and sharpness are exact up to float summation order; a dhash bit may differ where
OpenCV's fixed-point area average and this one round a tie the other way (measured in
``tests/gpu_workers/gpu/test_stats.py``). A frame the CPU path decodes at a JPEG DCT scale
(``reduction``) is box-averaged by that factor first: close to, not bit-equal with, a DCT-scaled
decode. Frames under 2 x 2 (or under the 9 x 8 thumbnail) take the CPU definitions on a host
copy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from gpu_workers.gpu.frames import DeviceFrame, DeviceTensor, luma, to_bgr
from vigil.imagestats import ImageStats, image_stats

_THUMB_W, _THUMB_H = 9, 8


@lru_cache(maxsize=64)
def area_weights(src: int, dst: int) -> npt.NDArray[np.float64]:
    """``dst`` x ``src`` weights of an area-averaging shrink: each output pixel averages the
    source interval it covers, partial pixels by their covered fraction (OpenCV INTER_AREA)."""
    scale = src / dst
    w = np.zeros((dst, src), np.float64)
    for j in range(dst):
        lo, hi = j * scale, (j + 1) * scale
        for i in range(int(np.floor(lo)), min(src, int(np.ceil(hi)))):
            w[j, i] = (min(hi, i + 1) - max(lo, i)) / scale
    return w


def reduced(tensor: DeviceTensor, factor: int) -> DeviceTensor:
    """3 x H x W uint8 box-averaged by ``factor`` (the size a DCT-scaled decode has:
    ceil(W / factor) x ceil(H / factor))."""
    if factor <= 1:
        return tensor
    import torch.nn.functional as F

    x = F.avg_pool2d(tensor[None].float(), factor, stride=factor, ceil_mode=True)
    return x.round().clamp(0, 255).to(tensor.dtype)[0]


def dhash_of(bits: npt.NDArray[np.bool_]) -> int:
    value = 0
    for bit in bits.flatten():
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= (1 << 63) else value


def _batch_stats(batch: DeviceTensor) -> list[ImageStats]:
    """N x 3 x H x W uint8 RGB frames of one size -> their statistics."""
    import torch
    import torch.nn.functional as F

    grey = luma(batch)  # N x H x W int32
    n, h, w = grey.shape
    g64 = grey.double().reshape(n, -1)
    mean = g64.mean(dim=1)
    std = g64.std(dim=1, unbiased=False)
    kernel = torch.tensor(
        [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=batch.device
    ).reshape(1, 1, 3, 3)
    padded = F.pad(grey[:, None].float(), (1, 1, 1, 1), mode="reflect")  # reflect-101
    lap = F.conv2d(padded, kernel).double().reshape(n, -1)  # integers: exact in float32
    sharp = lap.var(dim=1, unbiased=False)
    wy = torch.from_numpy(area_weights(h, _THUMB_H)).to(batch.device)
    wx = torch.from_numpy(area_weights(w, _THUMB_W)).to(batch.device)
    thumb = (wy @ grey.double() @ wx.T).round()  # N x 8 x 9
    bits = (thumb[:, :, 1:] > thumb[:, :, :-1]).cpu().numpy()
    out: list[ImageStats] = []
    for i, (m, s, v) in enumerate(zip(mean.tolist(), std.tolist(), sharp.tolist(), strict=True)):
        out.append(
            {
                "brightness": m / 255.0,
                "contrast": s / 255.0,
                "sharpness": v,
                "dhash": dhash_of(bits[i]),
            }
        )
    return out


def device_stats(frames: Sequence[DeviceFrame]) -> list[ImageStats]:
    """The statistics of each frame, in order; frames of one (reduced) size share a call."""
    import torch

    tensors = [reduced(f.tensor, f.reduction) for f in frames]
    out: list[ImageStats | None] = [None] * len(frames)
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, t in enumerate(tensors):
        _c, h, w = t.shape
        if h < _THUMB_H or w < _THUMB_W:  # the CPU's INTER_AREA enlarges: take its definitions
            out[i] = image_stats(to_bgr(t))
        else:
            groups[tuple(t.shape)].append(i)
    for indices in groups.values():
        batch = torch.stack([tensors[i] for i in indices])
        for i, stats in zip(indices, _batch_stats(batch), strict=True):
            out[i] = stats
    return [s for s in out if s is not None]
