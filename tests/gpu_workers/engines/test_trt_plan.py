"""The TensorRT engine's host-side pieces (no GPU needed), and its clear failure here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_workers.engines import EngineError
from gpu_workers.engines.trt_plan import (
    ProfileShapes,
    buffer_bytes,
    cache_key,
    pad,
    profile_shapes,
    split,
)


def test_profile_for_dynamic_batch_nhwc() -> None:
    p = profile_shapes((None, 300, 300, 3), max_batch=8)
    assert p == ProfileShapes((1, 300, 300, 3), (4, 300, 300, 3), (8, 300, 300, 3))


def test_profile_with_dynamic_spatial_axes_and_opt_batch() -> None:
    p = profile_shapes((None, 3, None, None), max_batch=4, opt_batch=2)
    assert (p.min, p.opt, p.max) == ((1, 3, 32, 32), (2, 3, 640, 640), (4, 3, 1280, 1280))


def test_profile_rejects_bad_batches() -> None:
    with pytest.raises(ValueError, match="opt_batch"):
        profile_shapes((None, 3, 32, 32), max_batch=4, opt_batch=5)
    with pytest.raises(ValueError, match="fixed at 2"):
        profile_shapes((2, 3, 32, 32), max_batch=8)


def test_cache_key_changes_with_gpu_version_weights_profile_precision() -> None:
    p8 = profile_shapes((None, 3, 64, 64), 8)
    base = cache_key("NVIDIA A100-SXM4-40GB", "10.3.0", "ab" * 32, p8, True)
    assert base.endswith(".plan")
    assert "/" not in base
    assert " " not in base
    assert base.startswith("nvidia-a100-sxm4-40gb_trt10.3.0_abababababababab")
    others = {
        cache_key("Tesla T4", "10.3.0", "ab" * 32, p8, True),
        cache_key("NVIDIA A100-SXM4-40GB", "10.4.0", "ab" * 32, p8, True),
        cache_key("NVIDIA A100-SXM4-40GB", "10.3.0", "cd" * 32, p8, True),
        cache_key(
            "NVIDIA A100-SXM4-40GB",
            "10.3.0",
            "ab" * 32,
            profile_shapes((None, 3, 64, 64), 16),
            True,
        ),
        cache_key("NVIDIA A100-SXM4-40GB", "10.3.0", "ab" * 32, p8, False),
    }
    assert base not in others
    assert len(others) == 5


def test_buffer_sizes() -> None:
    assert buffer_bytes((8, 300, 300, 3), np.float32) == 8 * 300 * 300 * 3 * 4
    assert buffer_bytes((8, 1917, 91), "float16") == 8 * 1917 * 91 * 2
    with pytest.raises(ValueError, match="dynamic"):
        buffer_bytes((-1, 3), np.float32)


def test_split_and_pad() -> None:
    assert split(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert split(0, 4) == []
    batch = np.ones((3, 2, 2), np.float32)
    padded = pad(batch, 4)
    assert padded.shape == (4, 2, 2)
    assert padded[3].sum() == 0
    assert padded[:3].sum() == 12
    assert pad(batch, 3) is batch
    with pytest.raises(ValueError, match="does not fit"):
        pad(batch, 2)


def test_tensorrt_engine_says_how_to_install_it(tmp_path: Path) -> None:
    from gpu_workers.engines.tensorrt import TensorRtEngine

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not used")
    with pytest.raises(EngineError, match=r"pip install 'vigil\[gpu\]'"):
        TensorRtEngine(
            onnx,
            max_batch=8,
            output_names=None,
            fp16=True,
            opt_batch=None,
            workspace_mib=256,
            engine_dir=tmp_path,
        )


def test_gpu_check_says_plainly_there_is_no_gpu(tmp_path: Path) -> None:
    """Without torch (CI) it names the extra; with torch but no GPU it says there is none;
    either way nothing was compared and it exits 3."""
    from typer.testing import CliRunner

    from vigil_app.cli import app

    result = CliRunner().invoke(app, ["gpu-check", "--all"], env={"VIGIL_CACHE_DIR": str(tmp_path)})
    assert result.exit_code == 3
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "nothing was compared" in output.lower()
    assert "pip install 'vigil[gpu]'" in output or "no CUDA GPU here" in output
