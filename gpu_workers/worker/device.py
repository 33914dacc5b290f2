"""The worker's torch path (``worker.preprocess``): a batch's frames are decoded together on the
engine's device (nvJPEG on a GPU, ``gpu_workers.gpu.decode``), their image statistics computed
there from the same tensors, and the detector's input built there too (``Inference``), so the
pixels never cross to the host unless the face cascade or the dashboard asks for them.

Frames arrive here checked (the header, the limits: ``intake.check``) and undecoded; a frame
the device refuses is decoded by the CPU path and counted; a frame neither can decode gets the
CPU path's ``Rejected`` and goes to the DLQ, alone."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gpu_workers.gpu.decode import DeviceDecoder, Encoded
from gpu_workers.gpu.frames import DeviceFrame
from gpu_workers.gpu.stats import device_stats
from gpu_workers.worker import intake
from gpu_workers.worker.inference import Item
from schemas.types import FrameEvent
from vigil.images import ImageHeader
from vigil.imagestats import ImageStats, image_stats

log = logging.getLogger("vigil.worker")


@dataclass(frozen=True)
class Raw:
    """A checked frame waiting for its batch's device decode; ``reduction`` is the DCT scale
    the CPU path would decode it at (the image statistics are taken at that scale)."""

    event: FrameEvent
    data: bytes
    header: ImageHeader
    reduction: int


def cpu_decode(data: bytes, header: ImageHeader) -> npt.NDArray[np.uint8]:
    """The CPU path's decode at full size (the device wants every pixel)."""
    return intake.decode(data, header, 1).image


class DeviceIntake:
    """Decodes a batch of :class:`Raw` frames on ``device``: an :class:`Item` per frame, or
    the exception its decode ended in (the caller sends it to the DLQ)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.decoder = DeviceDecoder(device, cpu_decode)
        log.info("torch path: frames decoded and preprocessed on %s", device)

    def __call__(self, raws: Sequence[Raw]) -> list[Item | Exception]:
        decoded = self.decoder([Encoded(r.data, r.header) for r in raws])
        frames: list[tuple[int, DeviceFrame]] = []
        out: list[Item | Exception | None] = [None] * len(raws)
        for i, (raw, result) in enumerate(zip(raws, decoded, strict=True)):
            if isinstance(result, Exception):
                out[i] = result
            else:
                frames.append((i, DeviceFrame(result, raw.header, raw.reduction)))
        for (i, frame), stats in zip(frames, self._stats([f for _, f in frames]), strict=True):
            out[i] = Item(raws[i].event, frame, stats)
        return [r for r in out if r is not None]

    @staticmethod
    def _stats(frames: Sequence[DeviceFrame]) -> list[ImageStats]:
        try:
            return device_stats(frames)
        except RuntimeError as exc:  # a device fault here must not cost the frames: host stats
            log.warning("image statistics on the device failed, on the host instead: %s", exc)
            return [image_stats(f.image) for f in frames]
