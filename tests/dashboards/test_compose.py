"""docker-compose.yml (validated with Debian's docker-compose, no engine needed): the whole
production-shaped stack, healthchecks, volumes, the GPU worker on the NVIDIA runtime."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def config(*profiles: str) -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("CI must validate docker-compose.yml: apt-get install docker-compose")
        pytest.skip("docker-compose not installed")
    args = [binary, "-f", str(ROOT / "docker-compose.yml")]
    for profile in profiles:
        args += ["--profile", profile]
    done = subprocess.run(
        [*args, "config"], capture_output=True, text=True, check=False, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = yaml.safe_load(done.stdout)
    return parsed


def test_compose_stack_has_every_service_with_healthchecks_and_volumes() -> None:
    services = config()["services"]
    expected = {
        "kafka", "clickhouse", "prometheus", "grafana", "vigil-topics", "vigil-models",
        "vigil-api", "vigil-ingest", "vigil-worker", "vigil-clickhouse-sink", "vigil-alerts",
        "vigil-drift",
    }  # fmt: skip
    assert expected <= set(services)
    for name in ("kafka", "clickhouse", "prometheus", "grafana", "vigil-api", "vigil-worker"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("kafka", "clickhouse", "prometheus", "grafana", "vigil-worker"):
        assert services[name].get("volumes"), name
    api = services["vigil-api"]
    assert api["command"][:2] == ["vigil", "api"]
    for var in ("INGEST", "VIEWER", "POI", "ADMIN"):  # never open: no keys, no start
        assert f"VIGIL_ACCESS__{var}_KEYS" in api["environment"]
    # docker-compose 1.x prints volumes as "source:target:mode"
    grafana = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "dashboards/grafana/provisioning:/etc/grafana/provisioning" in grafana
    assert "dashboards/grafana/dashboards:/var/lib/grafana/dashboards/vigil" in grafana
    prometheus = " ".join(str(v) for v in services["prometheus"]["volumes"])
    assert "dashboards/prometheus:/etc/prometheus" in prometheus
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_gpu_worker_uses_the_nvidia_runtime_and_the_gpu_extra() -> None:
    gpu = config("gpu")["services"]["vigil-worker-gpu"]
    assert gpu["runtime"] == "nvidia"
    assert gpu["build"]["args"]["VIGIL_EXTRAS"] == "gpu"
    assert gpu["environment"]["VIGIL_WORKER__ENGINE__KIND"] == "tensorrt"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE" in dockerfile
    assert "VIGIL_EXTRAS" in dockerfile


def test_env_example_names_every_variable_the_compose_file_reads() -> None:
    import re

    compose = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_0-9]+)[:}]", compose))
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert used <= documented, used - documented
