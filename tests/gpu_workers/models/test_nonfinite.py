"""A custom model that emits NaN or infinity: those candidates are dropped and counted, the
finite ones kept; and degenerate frames (1 x N, N x 1) never make the resize raise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client import REGISTRY

from gpu_workers.models.base import resize_all
from gpu_workers.models.loader import load_model
from tests.gpu_workers.onnx_builders import constant_output_model

NAN, INF = float("nan"), float("inf")
# cx, cy, w, h, score person, score car
CANDIDATES = np.asarray(
    [
        [16, 16, 8, 8, 0.9, 0.0],  # good: kept
        [NAN, 16, 8, 8, 0.9, 0.0],  # NaN box
        [8, 8, INF, 4, 0.8, 0.0],  # infinite box
        [24, 24, 4, 4, INF, 0.0],  # infinite score (above any threshold)
        [24, 8, 4, 4, NAN, 0.0],  # NaN score (never above one)
        [4, 26, 4, 4, 0.0, 0.7],  # good: kept
    ],
    np.float32,
)


def dropped(model: str) -> float:
    value = REGISTRY.get_sample_value("vigil_model_nonfinite_outputs_total", {"model": model})
    return value or 0.0


def nan_model(tmp_path: Path, letterbox: bool) -> Path:
    constant_output_model(tmp_path / "nan.onnx", CANDIDATES.T.copy(), (32, 32))
    spec = {
        "name": f"nan-yolo-{int(letterbox)}",
        "family": "yolo",
        "file": "nan.onnx",
        "input_size": [32, 32],
        "letterbox": letterbox,
        "labels": ["person", "car"],
        "score_threshold": 0.5,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.parametrize("letterbox", [True, False])
def test_nan_and_inf_candidates_are_dropped_and_counted(tmp_path: Path, letterbox: bool) -> None:
    model = load_model(nan_model(tmp_path, letterbox), tmp_path)
    before = dropped(model.spec.name)
    images = [np.zeros((40, 60, 3), np.uint8), np.zeros((2000, 1, 3), np.uint8)]
    results = model(images)
    for result in results:
        assert [d.label for d in result.detections] == ["person", "car"]
        for d in result.detections:
            values = [d.score, d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max]
            assert np.isfinite(values).all()
    assert dropped(model.spec.name) - before == 4 * len(images)


@pytest.mark.parametrize("letterbox", [True, False])
@pytest.mark.parametrize("shape", [(2000, 1), (1, 2000), (1, 1), (5000, 3)])
def test_degenerate_frames_resize_without_raising(shape: tuple[int, int], letterbox: bool) -> None:
    image = np.full((*shape, 3), 200, np.uint8)
    out, places = resize_all([image], (32, 32), letterbox=letterbox)
    assert out[0].shape == (32, 32, 3)
    assert (places[0].width, places[0].height) == (shape[1], shape[0])
