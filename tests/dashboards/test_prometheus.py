"""``promtool`` (Debian's prometheus package) accepts the scrape config and the rules, and the
rules' unit tests (dashboards/prometheus/rules/vigil.rules.test.yml) fire each alert."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus"
ALERTS = {
    "VigilWorkerStalled",
    "VigilConsumerLagGrowing",
    "VigilDeadLetterRate",
    "VigilCameraDown",
    "VigilSinkFailing",
    "VigilDriftAlarm",
    "VigilAlertDeadLettered",
    "VigilAlertDeliverySaturated",
}


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        if IN_CI:
            pytest.fail("CI must check the Prometheus files: apt-get install prometheus")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    done = subprocess.run(
        [binary, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_checks_config_and_rules() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    out = promtool("check", "rules", "rules/vigil.rules.yml")
    assert "SUCCESS: 10 rules found" in out


def test_promtool_unit_tests_fire_the_alerts() -> None:
    assert "SUCCESS" in promtool("test", "rules", "rules/vigil.rules.test.yml")
    tested = yaml.safe_load((ROOT / "rules" / "vigil.rules.test.yml").read_text())
    fired = {t["alertname"] for case in tested["tests"] for t in case["alert_rule_test"]}
    assert fired >= ALERTS


def test_every_vigil_service_is_scraped() -> None:
    config = yaml.safe_load((ROOT / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"vigil-api", "vigil-ingest", "vigil-worker", "vigil-sink", "vigil-alerts"} <= jobs
    assert "vigil-drift" in jobs
