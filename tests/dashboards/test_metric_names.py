"""Every metric name the Prometheus rules and the Grafana dashboards use exists in the /metrics
output of the running components (each started here as its real ``vigil`` command), and the
names follow Prometheus conventions (``vigil_`` prefix, base units, ``_total`` counters)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.connectors.helpers import write_cameras
from tests.gpu_workers.conftest import zoo_cache
from tests.streams.alerting.helpers import VIGIL
from vigil.testing import bikes_mp4, free_port, poll_until, process_env, provision
from vigil_app.settings import VigilSettings

__all__ = ["zoo_cache"]
ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "dashboards" / "prometheus"
GRAFANA = ROOT / "dashboards" / "grafana" / "dashboards"
NAME = re.compile(r"\b((?:vigil|process)_[a-z0-9_]+)\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
}


def used_names() -> dict[str, set[str]]:
    """Metric names per file: PromQL of the rules and of the Prometheus panels."""
    used: dict[str, set[str]] = {}
    rules = yaml.safe_load((PROMETHEUS / "rules" / "vigil.rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            used.setdefault("vigil.rules.yml", set()).update(NAME.findall(rule["expr"]))
    for path in sorted(GRAFANA.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    used.setdefault(path.name, set()).update(NAME.findall(target["expr"]))
    return used


def exposed(families: list[tuple[str, str]]) -> set[str]:
    """Every sample name the families can expose (labelled metrics show no sample until used,
    but their TYPE line is always there)."""
    names: set[str] = set()
    for name, kind in families:
        names.update(name + s for s in SUFFIXES.get(kind, ("",)))
    return names


def scrape(port: int) -> list[tuple[str, str]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return [(f.name, f.type) for f in text_string_to_metric_families(text)]


@pytest.fixture
def components(
    settings: VigilSettings, zoo_cache: Path, tmp_path: Path
) -> Iterator[dict[str, int]]:
    """api, ingest, worker, ClickHouse sink, alerts and drift: the long-running commands."""
    provision(settings)
    cameras = tmp_path / "cameras.yaml"
    write_cameras(cameras, [{"id": "bikes", "path": str(bikes_mp4()), "fps": 5, "loop": True}])
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: people\n    labels: [person]\n    min_score: 0.5\n")
    commands = {
        "api": ["api", "--host", "127.0.0.1", "--port", str(free_port())],
        "ingest": ["ingest", "--cameras", str(cameras)],
        "worker": ["worker"],
        "sink": ["sink", "clickhouse"],
        "alerts": ["alerts", "--rules", str(rules)],
        "drift": ["drift"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    try:
        for name, args in commands.items():
            ports[name] = free_port()
            log = (tmp_path / f"{name}.log").open("wb")
            procs[name] = subprocess.Popen(
                [VIGIL, *args],
                env=process_env(
                    settings.model_copy(update={"data_dir": tmp_path / name}),
                    VIGIL_CACHE_DIR=str(zoo_cache),
                    VIGIL_METRICS_PORT=str(ports[name]),
                    VIGIL_ACCESS__INGEST_KEYS='["k-0123456789"]',
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield ports
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                print(f"{name} killed after 30 s")


@pytest.mark.timeout(300)
def test_every_metric_used_is_exposed_by_a_running_component(
    components: dict[str, int], tmp_path: Path
) -> None:
    used = used_names()
    wanted = set().union(*used.values())
    assert len(wanted) >= 40
    families: dict[str, list[tuple[str, str]]] = {}
    missing = wanted

    def all_exposed() -> bool:
        nonlocal missing
        for name, port in components.items():
            found = scrape(port)
            if found:
                families[name] = found
        missing = wanted - exposed([f for fs in families.values() for f in fs])
        return not missing and len(families) == len(components)

    poll_until(all_exposed, 200, interval_s=1)
    logs = {p.stem: p.read_text(errors="replace")[-1500:] for p in tmp_path.glob("*.log")}
    assert set(families) == set(components), f"not serving /metrics: {logs}"
    where = {m: sorted(f for f, names in used.items() if m in names) for m in missing}
    assert not missing, f"used but exposed by no component: {where}"

    # the naming audit, over everything the components expose
    for component, fams in families.items():
        for name, kind in fams:
            if not name.startswith("vigil_"):
                continue
            assert re.fullmatch(r"vigil_[a-z0-9_]+", name), name
            assert not re.search(r"_(ms|millis|milliseconds|minutes|hours|bytes_total)$", name)
            assert not name.endswith("_total"), (component, name)  # counters get _total
            if kind == "histogram" and name.endswith("_seconds"):
                continue
            assert kind != "histogram" or name.endswith(("_size", "_seconds")), name
