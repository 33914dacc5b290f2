"""JPEG batches decoded on the device: ``torchvision.io.decode_jpeg(..., device="cuda")`` is
nvJPEG on a GPU (libjpeg-turbo on the CPU device, which the tests use). Per frame, whatever
nvJPEG refuses takes the CPU path instead, and is counted
(``vigil_worker_gpu_decode_fallbacks_total{reason}``):

- ``format``: not a JPEG (PNG, WebP, BMP, raw frames);
- ``cmyk``: a CMYK (Adobe) JPEG, which nvJPEG does not convert;
- ``decode_error``: the device decode raised for this frame (a batch that raises is retried
  frame by frame, so one bad frame costs only itself);
- ``size_mismatch``: the device decode gave another size than the header declares.

The CPU path is the worker's own decode (injected: it raises the worker's ``Rejected`` for a
frame that is really bad, which then goes to the DLQ with its reason)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter

from gpu_workers.engines.stack import require
from gpu_workers.gpu.frames import DeviceTensor, from_bgr, upright
from vigil.images import ImageHeader

log = logging.getLogger("vigil.gpu")
FALLBACKS = Counter(
    "vigil_worker_gpu_decode_fallbacks_total",
    "Frames of the torch path decoded on the CPU instead of the device, by reason",
    ["reason"],
)
# JPEG pixel modes nvJPEG decodes to RGB (grey is expanded); CMYK / YCCK are refused
_DEVICE_MODES = {"RGB", "L", ""}

CpuDecode = Callable[[bytes, ImageHeader], npt.NDArray[np.uint8]]  # -> BGR, upright


@dataclass(frozen=True)
class Encoded:
    data: bytes
    header: ImageHeader


class DeviceDecoder:
    """Decodes batches of encoded frames into upright 3 x H x W uint8 RGB tensors on
    ``device``; each result is a tensor or the exception the CPU path raised for that frame."""

    def __init__(self, device: str, cpu_decode: CpuDecode) -> None:
        self.torch = require("torch", "GPU decoding")
        self.io = require("torchvision.io", "GPU decoding")
        self.device = device
        self.cpu_decode = cpu_decode

    def __call__(self, frames: Sequence[Encoded]) -> list[DeviceTensor | Exception]:
        out: list[DeviceTensor | Exception | None] = [None] * len(frames)
        on_device: list[int] = []
        for i, frame in enumerate(frames):
            reason = self.refusal(frame.header)
            if reason is None:
                on_device.append(i)
            else:
                out[i] = self._on_cpu(frame, reason)
        for i, tensor in zip(on_device, self._decode([frames[i] for i in on_device]), strict=True):
            frame = frames[i]
            if tensor is None:
                out[i] = self._on_cpu(frame, "decode_error")
            elif (tensor.shape[2], tensor.shape[1]) != frame.header.stored_size:
                out[i] = self._on_cpu(frame, "size_mismatch")
            else:
                out[i] = upright(tensor, frame.header.orientation)
        return [r for r in out if r is not None]

    @staticmethod
    def refusal(header: ImageHeader) -> str | None:
        """Why this frame goes to the CPU path without trying the device, or None."""
        if header.format != "JPEG":
            return "format"
        if header.mode not in _DEVICE_MODES:
            return "cmyk"
        return None

    def _decode(self, frames: Sequence[Encoded]) -> list[DeviceTensor | None]:
        """Device decodes, None where one failed: the batch at once, else frame by frame."""
        if not frames:
            return []
        torch, io = self.torch, self.io
        inputs = [torch.frombuffer(bytearray(f.data), dtype=torch.uint8) for f in frames]
        mode = io.ImageReadMode.RGB
        try:
            return list(io.decode_jpeg(inputs, mode=mode, device=self.device))
        except RuntimeError as exc:  # one bad frame fails the batched call: find it
            log.debug("batched device decode failed, frame by frame: %s", exc)
        results: list[DeviceTensor | None] = []
        for data in inputs:
            try:
                results.append(io.decode_jpeg(data, mode=mode, device=self.device))
            except RuntimeError:
                results.append(None)
        return results

    def _on_cpu(self, frame: Encoded, reason: str) -> DeviceTensor | Exception:
        FALLBACKS.labels(reason).inc()
        try:
            return from_bgr(self.cpu_decode(frame.data, frame.header), self.device)
        except Exception as exc:  # the frame's own failure (Rejected): reported, never raised
            return exc
