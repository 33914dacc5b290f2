"""A detector's preprocessing as one batched tensor on the device: the same resize (stretch, or
letterbox with grey 114 padding), channel order, scaling, normalisation and layout as the
OpenCV path (``gpu_workers.models.base``: ``resize_all`` + ``to_input``), so the engine gets
device memory and the host never sees the pixels.

Bilinear resizing samples at pixel centres with no antialiasing, as ``cv2.INTER_LINEAR`` does;
OpenCV interpolates in 11-bit fixed point, this in float, so a resized pixel may differ by one
grey level (``tests/gpu_workers/gpu/test_preprocess.py`` states the measured bounds). Frames of
one size are resized in one call."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from gpu_workers.gpu.frames import DeviceTensor
from gpu_workers.models.base import (
    LETTERBOX_GREY,
    Adapter,
    Placement,
    ResizeMode,
    letterbox_place,
    round_size,
)
from gpu_workers.models.spec import ModelSpec


class DevicePreprocess:
    """``spec``'s input tensor from 3 x H x W uint8 RGB frames on ``device``."""

    def __init__(self, spec: ModelSpec, mode: ResizeMode, device: str) -> None:
        if spec.input_size is None:
            raise ValueError(f"{spec.name}: the torch path needs a fixed input_size")
        self.spec = spec
        self.mode = mode
        self.device = device
        self.size = spec.input_size

    @classmethod
    def for_adapter(cls, adapter: Adapter[Any], device: str) -> DevicePreprocess | None:
        """The torch preprocessing of ``adapter``, or None when its preprocessing is not the
        plain resize + normalise this reproduces (it then runs on the host)."""
        mode = adapter.resize_mode()
        if mode is None or adapter.spec.input_size is None:
            return None
        return cls(adapter.spec, mode, device)

    def __call__(self, frames: Sequence[DeviceTensor]) -> tuple[DeviceTensor, list[Placement]]:
        import torch

        resized, places = self.resize(frames)
        spec = self.spec
        x = resized
        if spec.colour_order == "bgr":
            x = x.flip(1)
        if spec.input_dtype == "uint8":
            x = x.to(torch.uint8)
        else:
            x = x * torch.tensor(spec.scale, dtype=torch.float32, device=x.device)
            if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
                mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device)
                std = torch.tensor(spec.std, dtype=torch.float32, device=x.device)
                x = (x - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
        if spec.layout == "nhwc":
            x = x.permute(0, 2, 3, 1)
        return x.contiguous(), places

    def resize(self, frames: Sequence[DeviceTensor]) -> tuple[DeviceTensor, list[Placement]]:
        """N x 3 x height x width float32 (whole grey levels, 0..255, RGB) and the placements."""
        import torch
        import torch.nn.functional as F

        width, height = self.size
        fill = LETTERBOX_GREY if self.mode == "letterbox" else 0
        out = torch.full(
            (len(frames), 3, height, width), float(fill), dtype=torch.float32, device=self.device
        )
        places: list[Placement] = []
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, frame in enumerate(frames):
            if frame.ndim != 3 or frame.shape[0] != 3 or frame.dtype != torch.uint8:
                raise ValueError(
                    f"frames must be 3 x H x W uint8 (RGB); got {tuple(frame.shape)} {frame.dtype}"
                )
            _c, h, w = frame.shape
            if self.mode == "letterbox":
                places.append(letterbox_place(w, h, self.size))
            else:
                places.append(Placement(w, h, width / w, height / h))
            groups[(h, w)].append(i)
        for indices in groups.values():
            place = places[indices[0]]
            if self.mode == "letterbox":
                nw, nh = round_size(place)
                px, py = int(place.pad_x), int(place.pad_y)
            else:
                nw, nh, px, py = width, height, 0, 0
            batch = torch.stack([frames[i] for i in indices]).to(self.device).float()
            if (nh, nw) != tuple(batch.shape[2:]):
                batch = F.interpolate(batch, size=(nh, nw), mode="bilinear", align_corners=False)
                batch = batch.round().clamp(0, 255)
            index = torch.tensor(indices, device=self.device)
            out[index, :, py : py + nh, px : px + nw] = batch
        return out, places
