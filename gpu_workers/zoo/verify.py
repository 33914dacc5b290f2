"""Checks a freshly converted model must pass before it enters the cache: ONNX Runtime loads
and runs it, and its outputs match the source framework's on a fixed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpu_workers.engines import EngineError, OnnxRuntimeEngine
from gpu_workers.models.ssd import ssd_anchors
from gpu_workers.zoo.catalog import ZooModel
from gpu_workers.zoo.fetch import ZooError


def verify(zoo: ZooModel, out_dir: Path, sources: list[Path]) -> float:
    """Largest absolute difference from the reference; raises ZooError beyond tolerance."""
    name = zoo.spec.name
    try:
        engine = OnnxRuntimeEngine(out_dir / "model.onnx", threads=2, output_names=zoo.spec.outputs)
    except EngineError as exc:
        raise ZooError(f"{name}: the converted model does not load: {exc}") from exc
    reference = out_dir / "reference.npz"
    if reference.exists():
        with np.load(reference) as ref:
            outputs = engine.infer(ref["input"])
            diff = max(
                float(np.abs(o - ref[n]).max())
                for o, n in zip(outputs, zoo.spec.outputs, strict=True)
            )
    else:  # an ONNX source: compare with the original file at its stored input size
        original = OnnxRuntimeEngine(sources[0], threads=2)
        shape = tuple(d or 1 for d in original.input_spec.shape)
        probe = np.random.default_rng(7).uniform(0, 255, size=shape).astype(np.float32)
        diff = max(
            float(np.abs(a - b).max())
            for a, b in zip(engine.infer(probe), original.infer(probe), strict=True)
        )
    if diff > zoo.tolerance:
        raise ZooError(
            f"{name}: ONNX differs from the source model by {diff:.3g} (tolerance {zoo.tolerance})"
        )
    if zoo.spec.anchors is not None:
        graph_anchors = np.load(out_dir / "anchors.npy")
        ours = ssd_anchors(zoo.spec.anchors)
        if graph_anchors.shape != ours.shape or np.abs(graph_anchors - ours).max() > 1e-5:
            raise ZooError(f"{name}: the spec's anchors differ from the graph's")
    return diff
