"""docker-compose.yml (validated with Debian's docker-compose, no engine needed): the whole
production-shaped stack, healthchecks, volumes, the GPU worker on the NVIDIA runtime, and its
security: required secrets, SASL/SCRAM to Kafka, nothing published that should not be."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
# the secrets .env must give; compose refuses to start without each
REQUIRED = {
    "KAFKA_PASSWORD": "kafka-Pw-0123456789abcdef",
    "CLICKHOUSE_PASSWORD": "clickhouse-Pw-0123456789",
    "GRAFANA_ADMIN_PASSWORD": "grafana-Pw-0123456789",
}


def run_config(env: dict[str, str], *profiles: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("CI must validate docker-compose.yml: apt-get install docker-compose")
        pytest.skip("docker-compose not installed")
    args = [binary, "-f", str(ROOT / "docker-compose.yml")]
    for profile in profiles:
        args += ["--profile", profile]
    # an empty env file: no .env of the developer's is read
    base = {k: v for k, v in os.environ.items() if k not in REQUIRED and not k.startswith("VIGIL")}
    with tempfile.NamedTemporaryFile("w", suffix=".env") as empty:
        return subprocess.run(
            [*args, "--project-directory", str(ROOT), "--env-file", empty.name, "config"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=60,
            env={**base, **env},
        )


def config(*profiles: str) -> dict[str, Any]:
    done = run_config(REQUIRED, *profiles)
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
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")


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


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    done = run_config({k: v for k, v in REQUIRED.items() if k != missing})
    assert done.returncode != 0
    assert missing in done.stderr


def test_compose_stack_is_secured_by_default() -> None:
    services = config()["services"]
    kafka = services["kafka"]
    assert "ports" not in kafka  # the broker is reached on the compose network only
    assert kafka["command"] == ["bash", "/vigil-kafka/start.sh"]
    assert kafka["environment"]["KAFKA_PASSWORD"] == REQUIRED["KAFKA_PASSWORD"]
    assert any(str(v).startswith(f"{ROOT}/dashboards/kafka:/vigil-kafka") for v in kafka["volumes"])
    assert "ports" not in services["prometheus"]
    for port in services["clickhouse"]["ports"]:  # analysts on the host, nobody else
        assert str(port.get("host_ip", port) if isinstance(port, dict) else port).startswith(
            "127.0.0.1"
        ), port
    assert (
        services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"]
        == REQUIRED["CLICKHOUSE_PASSWORD"]
    )
    grafana = services["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == REQUIRED["GRAFANA_ADMIN_PASSWORD"]
    assert grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    vigil = [name for name in services if name.startswith("vigil-")]
    assert len(vigil) >= 8
    for name in vigil:
        env = services[name]["environment"]
        assert env["VIGIL_KAFKA__SECURITY_PROTOCOL"] in ("SASL_PLAINTEXT", "SASL_SSL"), name
        assert env["VIGIL_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["VIGIL_KAFKA__SASL_PASSWORD"] == REQUIRED["KAFKA_PASSWORD"], name
        assert f":{REQUIRED['CLICKHOUSE_PASSWORD']}@" in env["VIGIL_CLICKHOUSE__URL"], name
        published = [str(p) for p in services[name].get("ports", [])]
        assert not any("9464" in p for p in published), (name, published)  # /metrics
    # only the API (keys), Grafana (password) and ClickHouse (loopback, password) publish ports
    publishing = {name for name, svc in services.items() if svc.get("ports")}
    assert publishing == {"vigil-api", "grafana", "clickhouse"}
    text = (ROOT / "docker-compose.yml").read_text()
    assert ":-vigil}" not in text
    assert ":-admin}" not in text.replace("GRAFANA_ADMIN_USER:-admin}", "")
