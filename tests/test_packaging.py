"""The repository's user-facing files: the compose file validates, the README's commands hold."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def test_docker_compose_config_is_valid() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("CI must validate docker-compose.yml: apt-get install docker-compose")
        pytest.skip("docker-compose not installed")
    done = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")


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
        "tests",
        "bench",
        "vigil",
    ):
        assert (ROOT / folder).is_dir(), folder
