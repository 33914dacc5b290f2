"""Without torch (the default install, CI) every GPU module still imports, and asking for the
torch engine or the torch path fails with the install command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gpu_workers.engines import EngineError
from gpu_workers.engines.stack import cuda_available, torch_device
from gpu_workers.engines.torchcuda import TorchEngine


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("torch", "torchvision", "torchvision.io", "onnx2torch"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


@pytest.mark.usefixtures("no_torch")
def test_the_torch_engine_names_the_extra(ssd: object, zoo_cache: Path) -> None:
    model = zoo_cache / "models" / "ssd_mobilenet_v2_coco" / "model.onnx"
    with pytest.raises(
        EngineError, match=r"needs torch, not installed: pip install 'vigil\[gpu\]'"
    ):
        TorchEngine(model, max_batch=2, output_names=None, device="cpu")
    assert cuda_available() is False
    with pytest.raises(EngineError, match=r"vigil\[gpu\]"):
        torch_device("auto", "worker.preprocess: torch")


@pytest.mark.usefixtures("no_torch")
def test_the_torch_path_names_the_extra() -> None:
    from gpu_workers.gpu.decode import DeviceDecoder

    with pytest.raises(EngineError, match=r"GPU decoding needs torch.*vigil\[gpu\]"):
        DeviceDecoder("cpu", lambda data, header: None)  # type: ignore[arg-type,return-value]


def test_the_gpu_check_imports_without_opencv() -> None:
    """A GPU host may lack OpenCV (a 57 MB wheel the carried folder has no room for): the check
    and what it runs import without it."""
    import subprocess

    code = (
        "import sys; sys.modules['cv2'] = None\n"
        "import gpu_workers.gpu.check, gpu_workers.gpu.preprocess, gpu_workers.gpu.stats\n"
        "import gpu_workers.gpu.decode, gpu_workers.engines.torchcuda, gpu_workers.models.ssd\n"
        "import gpu_workers.models.files, gpu_workers.engines.tensorrt\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
