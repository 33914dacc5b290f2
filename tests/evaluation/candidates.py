"""Candidate model specs for the replay/eval tests, derived from the prepared SSD detector:
a stricter score threshold (same ONNX), and a smaller input size (an ONNX whose input is
``size`` x ``size``, resized to the SSD's 300 x 300 inside the graph)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import helper, numpy_helper

from gpu_workers.worker.loop import Worker
from vigil.testing import poll_until
from vigil_app.settings import VigilSettings

ZOO = "ssd_mobilenet_v2_coco"


def zoo_spec(settings: VigilSettings) -> tuple[dict[str, Any], Path]:
    folder = settings.cache_dir / "models" / ZOO
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    return spec, folder / spec["file"]


def threshold_candidate(settings: VigilSettings, folder: Path, threshold: float) -> Path:
    """The production model with a higher score threshold, as version ``<v>-thr<t>``."""
    spec, onnx_path = zoo_spec(settings)
    spec.update(
        version=f"{spec['version']}-thr{threshold}",
        score_threshold=threshold,
        file=str(onnx_path),
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def input_size_candidate(settings: VigilSettings, folder: Path, size: int) -> Path:
    """The production weights behind a ``size`` x ``size`` input (bilinear resize to 300)."""
    spec, onnx_path = zoo_spec(settings)
    model = onnx.load(str(onnx_path))
    graph = model.graph
    original = graph.input[0].name
    inner = f"{original}_300"
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == original:
                node.input[i] = inner
    width, height = spec["input_size"]
    scales = np.asarray([1.0, 1.0, height / size, width / size], np.float32)
    graph.initializer.extend([numpy_helper.from_array(scales, "resize_scales")])
    graph.node.insert(0, helper.make_node("Transpose", [original], ["nchw"], perm=[0, 3, 1, 2]))
    graph.node.insert(
        1, helper.make_node("Resize", ["nchw", "", "resize_scales"], ["resized"], mode="linear")
    )
    graph.node.insert(2, helper.make_node("Transpose", ["resized"], [inner], perm=[0, 2, 3, 1]))
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_value = size
    dims[2].dim_value = size
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    spec.update(version=f"{spec['version']}-in{size}", input_size=[size, size], file="model.onnx")
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_production(settings: VigilSettings, frames: int) -> None:
    """Production's worker in this process until it committed ``frames`` frames."""
    worker = Worker(settings, instance="prod")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    poll_until(lambda: worker.committed_frames >= frames, 120, 0.2)
    worker.stop()
    thread.join(60)
    if worker.committed_frames != frames:
        raise AssertionError(f"production committed {worker.committed_frames} of {frames}")
