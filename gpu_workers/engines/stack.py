"""The optional GPU stack (the ``gpu`` extra: torch, torchvision, tensorrt, pycuda, onnx2torch),
imported only when a GPU code path runs: every module imports anywhere, and a missing package
is an :class:`EngineError` that names the install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from gpu_workers.engines.base import EngineError

GPU_EXTRA = "pip install 'vigil[gpu]' on a host with an NVIDIA GPU"


def require(module: str, what: str) -> ModuleType:
    """``module`` imported, or an EngineError saying ``what`` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineError(
            f"{what} needs {module.split('.')[0]}, not installed: {GPU_EXTRA} ({exc})"
        ) from exc


def import_torch(what: str) -> ModuleType:
    """torch (its own module), for ``what``."""
    return require("torch", what)


def torch_device(name: str, what: str) -> str:
    """``name`` ("auto", "cuda", "cuda:N" or "cpu") checked against this host: "auto" is the first
    CUDA GPU when torch sees one, else the CPU; an explicit CUDA device without one is an error."""
    torch = import_torch(what)
    has_cuda = bool(torch.cuda.is_available())
    if name == "auto":
        return "cuda:0" if has_cuda else "cpu"
    if name.startswith("cuda") and not has_cuda:
        raise EngineError(
            f"{what}: device {name!r} asked for, but torch {torch.__version__} sees no CUDA GPU "
            f"(torch.version.cuda = {torch.version.cuda})"
        )
    return name


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA GPU (False, never an error, otherwise)."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
