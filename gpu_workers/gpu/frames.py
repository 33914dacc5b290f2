"""Frames as tensors on the engine's device (3 x H x W uint8, RGB, upright: what nvJPEG gives,
turned by the EXIF orientation), and the host copies the rest of the worker asks for: the BGR
image (the face cascade, the dashboard) and the motion gate's small grey copy. torch is
imported by the caller (``gpu_workers.engines.stack``); these functions take its tensors."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.images import ImageHeader

Image = npt.NDArray[np.uint8]
DeviceTensor = Any  # a torch.Tensor (torch is optional: typed loosely)
# OpenCV 4's fixed-point BGR2GRAY for 8 bits (coefficients * 2**15): bit-equal luma
_LUMA_R, _LUMA_G, _LUMA_B, _LUMA_SHIFT = 9798, 19235, 3735, 15


@dataclass(frozen=True, eq=False)
class DeviceFrame:
    """One decoded frame on the device; ``reduction`` is the JPEG DCT scale the CPU path
    would have decoded it at, so image statistics are taken at the same scale."""

    tensor: DeviceTensor
    header: ImageHeader
    reduction: int = 1

    @cached_property
    def image(self) -> Image:
        """The BGR host copy (downloaded once, only when asked for)."""
        return to_bgr(self.tensor)

    def grey(self, width: int) -> Image:
        """The motion gate's grey copy: resized and made grey on the device, blurred on the host
        (a 160-pixel-wide copy is all that crosses the bus)."""
        import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV
        import torch.nn.functional as F

        _c, h, w = self.tensor.shape
        x = self.tensor[None].float()
        if w > width:
            size = (max(1, round(h * width / w)), width)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            x = x.round().clamp(0, 255)
        small = luma(x.to(dtype=self.tensor.dtype))[0].cpu().numpy().astype(np.uint8)
        return np.asarray(cv2.GaussianBlur(small, (5, 5), 0), dtype=np.uint8)


def luma(rgb: DeviceTensor) -> DeviceTensor:
    """N x 3 x H x W uint8 RGB -> N x H x W int32 luma, exactly OpenCV's ``BGR2GRAY``."""
    x = rgb.int()
    y = x[:, 0] * _LUMA_R + x[:, 1] * _LUMA_G + x[:, 2] * _LUMA_B
    return (y + (1 << (_LUMA_SHIFT - 1))) >> _LUMA_SHIFT


def from_bgr(image: Image, device: str) -> DeviceTensor:
    """A host BGR H x W x 3 image as a 3 x H x W RGB tensor on ``device``."""
    import torch

    rgb = np.ascontiguousarray(image[..., ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous().to(device)


def to_bgr(tensor: DeviceTensor) -> Image:
    """A 3 x H x W RGB tensor as a host BGR H x W x 3 image."""
    hwc = tensor.flip(0).permute(1, 2, 0).contiguous().cpu().numpy()
    return np.asarray(hwc, dtype=np.uint8)


def upright(tensor: DeviceTensor, orientation: int) -> DeviceTensor:
    """A 3 x H x W tensor decoded as stored, turned the way the EXIF orientation says: the same
    pixels as ``vigil.images.upright`` gives for the host image."""
    if orientation == 2:
        return tensor.flip(2)
    if orientation == 3:
        return tensor.flip(1, 2)
    if orientation == 4:
        return tensor.flip(1)
    if orientation == 5:
        return tensor.transpose(1, 2)
    if orientation == 6:
        return tensor.transpose(1, 2).flip(2)
    if orientation == 7:
        return tensor.transpose(1, 2).flip(1, 2)
    if orientation == 8:
        return tensor.transpose(1, 2).flip(1)
    return tensor
