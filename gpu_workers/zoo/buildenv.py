"""The isolated build environment (a virtualenv under the cache) holding the conversion tools,
so TensorFlow and tf2onnx never become Vigil's runtime dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gpu_workers.zoo.catalog import BUILD_REQUIREMENTS
from gpu_workers.zoo.fetch import ZooError


def build_python(cache_dir: Path) -> Path:
    """The build environment's python, created and filled once (a stamp records the pins)."""
    venv = cache_dir / "build" / "venv"
    python = venv / "bin" / "python"
    stamp = venv / ".vigil-requirements"
    wanted = "\n".join(BUILD_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(venv)], "create the build virtualenv")
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *BUILD_REQUIREMENTS,
        ],
        f"install the conversion tools ({', '.join(BUILD_REQUIREMENTS)})",
    )
    stamp.write_text(wanted)
    return python


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise ZooError(f"cannot {what}: {tail}")
