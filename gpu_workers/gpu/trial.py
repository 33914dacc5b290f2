"""What the GPU check runs on (``gpu_workers.gpu.check``): real JPEG frames, each model's input
built by the torch path, and the GPU engine variants of this host, reached through the torch
path's device tensors."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gpu_workers.engines.base import Engine, EngineError
from gpu_workers.engines.stack import require
from gpu_workers.engines.torchcuda import TorchEngine
from gpu_workers.gpu.decode import Encoded
from gpu_workers.gpu.frames import DeviceTensor
from gpu_workers.gpu.preprocess import DevicePreprocess
from gpu_workers.models.base import ResizeMode
from gpu_workers.models.spec import ModelSpec
from vigil.errors import VigilError
from vigil.images import ImageHeader, read_header

DEFAULT_MODELS = ("ssd_mobilenet_v2_coco", "centerface", "faceres")
BATCHES = (1, 8, 32, 64)
_MAX_BYTES, _MAX_PIXELS = 64 << 20, 50_000_000


class GpuCheckError(VigilError, RuntimeError):
    """No GPU (or no torch) here, or the models are not prepared: nothing was compared."""


@dataclass
class Options:
    cache_dir: Path
    device: str = "auto"
    models: Sequence[str] = DEFAULT_MODELS
    throughput: bool = True
    batches: Sequence[int] = BATCHES
    seconds: float = 1.0
    frames_dir: Path | None = None
    errors: list[str] = field(default_factory=list)


def load_frames(frames_dir: Path | None) -> list[bytes]:
    """JPEG frames: the files of ``frames_dir`` (what the carried folder holds), else 64 frames
    of bikes.mp4 from the test media (this machine)."""
    if frames_dir is not None:
        files = sorted(frames_dir.glob("*.jpg"))
        if not files:
            raise GpuCheckError(f"no .jpg frames in {frames_dir}")
        return [f.read_bytes() for f in files]
    from vigil.testing.media import bikes_jpegs

    return bikes_jpegs(64, (640, 272), step=3)


def pil_decode(data: bytes, _header: ImageHeader) -> npt.NDArray[np.uint8]:
    """The check's CPU fallback decode (BGR, upright), without OpenCV."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


def encoded(frames: Sequence[bytes]) -> list[Encoded]:
    return [
        Encoded(d, read_header(d, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS)) for d in frames
    ]


def cycle(items: Sequence[Any], n: int) -> list[Any]:
    return [items[i % len(items)] for i in range(n)]


def model_preprocess(spec: ModelSpec, device: str) -> DevicePreprocess:
    """The model's input from frames: its own resize where the torch path has it, else the
    frames stretched to its input size (a face model's input is an aligned crop; any real
    pixels compare the engines as well)."""
    size = spec.input_size or (640, 352)
    mode: ResizeMode = "letterbox" if spec.letterbox else "stretch"
    return DevicePreprocess(spec.model_copy(update={"input_size": size}), mode, device)


# -- engines ----------------------------------------------------------------------------------


def gpu_engines(device: str) -> list[str]:
    """The engine variants to check here: torch FP32 and FP16, TensorRT where installed."""
    kinds = ["torch-fp32", "torch-fp16"] if device.startswith("cuda") else ["torch-fp32"]
    if device.startswith("cuda"):
        try:
            require("tensorrt", "the TensorRT engine")
            kinds.append("tensorrt")
        except EngineError:
            pass
    return kinds


def build_engine(kind: str, path: Path, outputs: list[str], device: str, cache: Path) -> Engine:
    if kind == "tensorrt":
        from gpu_workers.engines.tensorrt import TensorRtEngine

        return TensorRtEngine(
            path,
            max_batch=max(BATCHES),
            output_names=outputs,
            fp16=True,
            opt_batch=32,
            workspace_mib=4096,
            engine_dir=cache / "trt",
        )
    return TorchEngine(
        path, max_batch=max(BATCHES), output_names=outputs, device=device, fp16=kind == "torch-fp16"
    )


def precision_of(engine: Engine) -> str:
    return str(getattr(engine, "precision", "fp16" if getattr(engine, "fp16", False) else "fp32"))


def to_engine(engine: Engine, batch: DeviceTensor) -> list[npt.NDArray[np.float32]]:
    """The device tensor to the engine: directly where it takes one, else one host copy."""
    if engine.device is not None:
        return engine.infer_device(batch)
    return engine.infer(batch.cpu().numpy())
