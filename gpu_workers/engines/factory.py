"""Pick the engine the worker settings ask for (a discriminated config: ``kind``)."""

from __future__ import annotations

from pathlib import Path

from gpu_workers.engines.base import Engine
from gpu_workers.engines.onnxruntime import OnnxRuntimeEngine, gpu_providers_first
from gpu_workers.engines.tensorrt import TensorRtEngine
from gpu_workers.engines.torchcuda import TorchEngine
from gpu_workers.settings import (
    OnnxRuntimeEngineSettings,
    TensorRtEngineSettings,
    TorchEngineSettings,
)

EngineSettings = OnnxRuntimeEngineSettings | TensorRtEngineSettings | TorchEngineSettings


def make_engine(
    cfg: EngineSettings,
    onnx_path: Path,
    output_names: list[str] | None,
    *,
    threads: int,
    max_batch: int,
    cache_dir: Path,
) -> Engine:
    if isinstance(cfg, TensorRtEngineSettings):
        return TensorRtEngine(
            onnx_path,
            max_batch=max_batch,
            output_names=output_names,
            fp16=cfg.fp16,
            opt_batch=cfg.opt_batch,
            workspace_mib=cfg.workspace_mib,
            engine_dir=cfg.engine_dir or cache_dir / "trt",
        )
    if isinstance(cfg, TorchEngineSettings):
        return TorchEngine(
            onnx_path,
            max_batch=max_batch,
            output_names=output_names,
            device=cfg.device,
            fp16=cfg.fp16,
            cuda_graphs=cfg.cuda_graphs,
        )
    return OnnxRuntimeEngine(
        onnx_path,
        threads=threads,
        max_batch=max_batch,
        output_names=output_names,
        providers=list(cfg.providers) or gpu_providers_first(),
        spinning=cfg.spinning,
    )
