"""Bad model input gets a clear error: a corrupt ONNX file, a missing one, a wrong-shaped or
wrong-typed batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_workers.engines import EngineError, OnnxRuntimeEngine
from tests.gpu_workers.onnx_builders import constant_output_model


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return constant_output_model(tmp_path / "m.onnx", np.ones((7, 5), np.float32), (32, 24))


def test_runs_and_reports_its_input(model: Path) -> None:
    engine = OnnxRuntimeEngine(model, threads=1, max_batch=2)
    assert engine.input_spec.shape == (None, 3, 24, 32)
    out = engine.infer_chunked(np.zeros((5, 3, 24, 32), np.float32))  # 3 chunks of <= 2
    assert out[0].shape == (5, 7, 5)
    assert float(out[0].sum()) == 5 * 35
    engine.warm_up(2)


def test_corrupt_file(tmp_path: Path, model: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(model.read_bytes()[: len(model.read_bytes()) // 2])
    with pytest.raises(EngineError, match=r"cannot load ONNX model .*broken\.onnx"):
        OnnxRuntimeEngine(broken)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a protobuf")
    with pytest.raises(EngineError, match="cannot load ONNX model"):
        OnnxRuntimeEngine(garbage)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="model file not found"):
        OnnxRuntimeEngine(tmp_path / "nope.onnx")


def test_wrong_shape_and_dtype(model: Path) -> None:
    engine = OnnxRuntimeEngine(model, threads=1)
    with pytest.raises(EngineError, match=r"expects \[\?, 3, 24, 32\].*axis 3 is 30"):
        engine.infer(np.zeros((1, 3, 24, 30), np.float32))
    with pytest.raises(EngineError, match="expects rank 4"):
        engine.infer(np.zeros((3, 24, 32), np.float32))
    with pytest.raises(EngineError, match="expects float32, got uint8"):
        engine.infer(np.zeros((1, 3, 24, 32), np.uint8))


def test_unknown_output_name(model: Path) -> None:
    with pytest.raises(EngineError, match=r"no output\(s\) \['boxes'\]"):
        OnnxRuntimeEngine(model, output_names=["boxes"])
