"""TensorRT engine (placeholder until the host-side pieces land)."""

from __future__ import annotations

from pathlib import Path

from gpu_workers.engines.base import Engine, EngineError

GPU_EXTRA = "pip install 'vigil[gpu]' (TensorRT and pycuda, on a host with an NVIDIA GPU)"


def TensorRtEngine(onnx_path: Path, **_options: object) -> Engine:
    raise EngineError(f"the tensorrt engine is not available here: {GPU_EXTRA}")
