"""Inference engines: one ``infer(batch) -> outputs`` contract; ONNX Runtime on CPU here,
TensorRT on GPU hosts behind the same interface."""

from gpu_workers.engines.base import Engine, EngineError, InputSpec
from gpu_workers.engines.onnxruntime import OnnxRuntimeEngine

__all__ = ["Engine", "EngineError", "InputSpec", "OnnxRuntimeEngine"]
