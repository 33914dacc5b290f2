"""Build an adapter from a prepared zoo model (by name) or from a user's spec YAML + ONNX."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_workers.engines import Engine, OnnxRuntimeEngine
from gpu_workers.models.base import Adapter
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.files import locate
from gpu_workers.models.spec import ModelSpec
from gpu_workers.models.ssd import SsdAdapter
from gpu_workers.models.types import ModelIdentity
from gpu_workers.models.yolo import YoloAdapter
from vigil.files import sha256_of

ADAPTERS: dict[str, type[Adapter[Any]]] = {
    "ssd": SsdAdapter,
    "yolo": YoloAdapter,
    "centerface": CenterFaceAdapter,
    "embedder": EmbedderAdapter,
}


# (onnx_path, output names or None) -> engine; None: ONNX Runtime on CPU
EngineFactory = Callable[[Path, "list[str] | None"], Engine]


def build_adapter(
    spec: ModelSpec,
    onnx_path: Path,
    *,
    threads: int = 2,
    max_batch: int = 8,
    sha256: str = "",
    make_engine: EngineFactory | None = None,
) -> Adapter[Any]:
    engine = (
        make_engine(onnx_path, spec.outputs or None)
        if make_engine is not None
        else OnnxRuntimeEngine(
            onnx_path, threads=threads, max_batch=max_batch, output_names=spec.outputs or None
        )
    )
    identity = ModelIdentity(spec.name, spec.version, sha256 or sha256_of(onnx_path))
    return ADAPTERS[spec.family](spec, engine, identity)


def load_model(
    ref: str | Path,
    cache_dir: Path,
    *,
    threads: int = 2,
    max_batch: int = 8,
    make_engine: EngineFactory | None = None,
) -> Adapter[Any]:
    """``ref`` is a zoo name or a spec YAML (:func:`locate`)."""
    spec, onnx_path, sha = locate(ref, cache_dir)
    return build_adapter(
        spec,
        onnx_path,
        threads=threads,
        max_batch=max_batch,
        sha256=sha,
        make_engine=make_engine,
    )
