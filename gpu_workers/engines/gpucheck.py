"""``vigil gpu-check``: on a GPU host, build the TensorRT engine for a model and compare its
outputs with ONNX Runtime on CPU over the same preprocessed images (max abs difference)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_workers.engines.base import EngineError
from gpu_workers.engines.onnxruntime import OnnxRuntimeEngine
from gpu_workers.engines.tensorrt import TensorRtEngine, import_gpu_stack
from gpu_workers.models.files import ModelNotPrepared
from gpu_workers.models.loader import load_model
from gpu_workers.settings import GpuWorkersSettings, TensorRtEngineSettings
from vigil.errors import VigilError


class GpuCheckError(VigilError, RuntimeError):
    """No GPU / TensorRT here, or the model cannot be loaded."""


@dataclass(frozen=True)
class GpuCheckReport:
    gpu: str
    trt_version: str
    engine_path: Path
    max_abs_diff: dict[str, float]


def run_gpu_check(settings: GpuWorkersSettings, model: str, batch: int) -> GpuCheckReport:

    try:
        trt, _cuda = import_gpu_stack()
    except EngineError as exc:
        raise GpuCheckError(
            f"no GPU/TensorRT present, nothing was compared: {exc}. This check has not run "
            "anywhere yet; run it on a GPU host."
        ) from exc
    try:
        reference = load_model(model, settings.cache_dir, threads=settings.models.threads)
    except (ModelNotPrepared, EngineError) as exc:
        raise GpuCheckError(str(exc)) from exc
    cpu = reference.engine
    if not isinstance(cpu, OnnxRuntimeEngine):
        raise GpuCheckError("the reference must be ONNX Runtime on CPU")
    cfg = settings.worker.engine
    trt_cfg = cfg if isinstance(cfg, TensorRtEngineSettings) else TensorRtEngineSettings()
    gpu = TensorRtEngine(
        cpu.path,
        max_batch=max(batch, settings.models.max_batch),
        output_names=cpu.output_names,
        fp16=trt_cfg.fp16,
        opt_batch=trt_cfg.opt_batch,
        workspace_mib=trt_cfg.workspace_mib,
        engine_dir=trt_cfg.engine_dir or settings.cache_dir / "trt",
    )
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (360, 480, 3), dtype=np.uint8) for _ in range(batch)]
    tensor, _places = reference.preprocess(images)
    want = cpu.infer(tensor)
    got = gpu.infer(tensor)
    diffs = {
        name: float(np.max(np.abs(w.astype(np.float64) - g.astype(np.float64))))
        for name, w, g in zip(cpu.output_names, want, got, strict=True)
    }
    return GpuCheckReport(gpu.gpu_name, str(trt.__version__), gpu.engine_path, diffs)
