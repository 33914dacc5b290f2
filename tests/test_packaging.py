"""The repository's user-facing files: the compose file validates, the README's commands hold,
and the package builds quietly with every file the code opens."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_has_exactly_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
    assert first_block is not None
    assert first_block.group(1).split("\n")[:2] == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec make test" in ci


def test_top_level_layout_names_the_architecture() -> None:
    for folder in (
        "schemas",
        "connectors",
        "gpu_workers",
        "streams",
        "dashboards",
        "evaluation",
        "lifecycle",
        "tests",
        "bench",
        "vigil",
    ):
        assert (ROOT / folder).is_dir(), folder


# top-level packages of the product (vigil_app: the composition root); tests/ and bench/ never ship
PACKAGE_ROOTS = (
    "vigil",
    "vigil_app",
    "schemas",
    "connectors",
    "gpu_workers",
    "streams",
    "dashboards",
    "evaluation",
    "lifecycle",
)


def _source_files() -> list[str]:
    """The files of a fresh clone with this working tree's changes: tracked and new, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [f for f in listed if (ROOT / f).is_file()]


def _clean_copy(files: list[str], src: Path) -> Path:
    """``files`` copied into ``src``: the tree a fresh clone would have."""
    for name in files:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    return src


@pytest.mark.timeout(300)
def test_wheel_ships_every_module_and_data_file_without_setuptools_warnings(
    tmp_path: Path,
) -> None:
    """A wheel built from a clean copy holds every product file the code may open (schemas,
    SQL views, dashboard pages, labels, the Kafka pom ...) and nothing of tests/ or bench/, and
    setuptools says nothing while building it (no "absent from packages" screen)."""
    files = _source_files()
    src = _clean_copy(files, tmp_path / "src")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    output = (built.stdout + built.stderr).splitlines()
    # Python warnings from setuptools ("_Warning: Package 'x' is absent ...",
    # "SetuptoolsDeprecationWarning: ..."), not distutils' lower-case log lines
    assert [line for line in output if re.search(r"\w*Warning: ", line)] == []
    with zipfile.ZipFile(next(tmp_path.glob("vigil-*.whl"))) as wheel:
        shipped = {n for n in wheel.namelist() if ".dist-info/" not in n}
    wanted = {f for f in files if f.split("/")[0] in PACKAGE_ROOTS and not f.endswith(".md")}
    assert sorted(wanted - shipped) == []
    assert sorted(n for n in shipped if n.split("/")[0] not in PACKAGE_ROOTS) == []


@pytest.mark.timeout(300)
def test_editable_install_says_nothing(tmp_path: Path) -> None:
    """``pip install -e .`` (what ``make install`` runs) into a fresh venv from a clean copy
    prints no setuptools warning or notice, and the console script runs the composition root."""
    src = _clean_copy(_source_files(), tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-v", "--no-deps", "-e", str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    output = (installed.stdout + installed.stderr).splitlines()
    assert [line for line in output if re.search(r"\w*Warning: |Editable installation", line)] == []
    script = (venv / "bin" / "vigil").read_text()
    assert "from vigil_app.cli import main" in script
