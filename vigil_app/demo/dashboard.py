"""The demo's dashboard stage: ``vigil api`` started in the background serving the dashboard
over what the sink stage put in ClickHouse, and a one-time login key.

The demo itself ends (it never blocks); the dashboard keeps running until
``vigil dashboard stop`` (or ``vigil stack down`` and a reboot). Under pytest the server is not
left behind: the step prints the command instead, unless a test asks for ``detach=True``."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from dashboards.web.auth import POI
from vigil.stack.process import ServerProcess
from vigil.web.tokens import OneTimeKeys, keys_file
from vigil_app.settings import VigilSettings


@dataclass(frozen=True)
class DemoDashboard:
    url: str
    login_key: str
    pid: int | None  # None: not started (the command to start it was printed)
    command: list[str]


def server(settings: VigilSettings) -> ServerProcess:
    return ServerProcess(settings.data_dir / "dashboard" / "server")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _api_key(settings: VigilSettings) -> str:
    """The demo's API key for the upload API (kept in the data directory, mode 0600)."""
    path = settings.data_dir / "dashboard" / "demo-api-key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _env(settings: VigilSettings, api_key: str) -> dict[str, str]:
    return {
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_CACHE_DIR": str(settings.cache_dir),
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_CLICKHOUSE__URL": settings.clickhouse.url,
        "VIGIL_CLICKHOUSE__DATABASE": settings.clickhouse.database,
        "VIGIL_ACCESS__INGEST_KEYS": json.dumps(
            [api_key, *(k.get_secret_value() for k in settings.access.ingest_keys)]
        ),
        # /metrics on any free port: a fixed one may still be held by the demo process
        "VIGIL_METRICS_PORT": "0",
    }


def start_demo_dashboard(
    settings: VigilSettings, console: Console, *, detach: bool | None = None
) -> DemoDashboard:
    host = settings.ingest.api_host
    port = settings.ingest.api_port
    proc = server(settings)
    proc.stop(timeout_s=10)  # the previous demo's dashboard
    if not port or not _port_free(host, port):
        port = _free_port(host)
    url = f"http://{host}:{port}/dashboard/"
    login_key = OneTimeKeys(keys_file(settings)).mint(POI, ttl_s=24 * 3600)
    vigil = str(Path(sys.executable).parent / "vigil")
    command = [vigil, "api", "--host", host, "--port", str(port)]
    env = _env(settings, _api_key(settings))
    if detach is None:
        detach = "PYTEST_CURRENT_TEST" not in os.environ
    pid = None
    if detach:
        pid = proc.spawn(command, env=env)
        _wait_until_up(url + "login", proc)
    console.rule("Dashboard")
    if pid is not None:
        console.print(f"Dashboard: [bold]{url}[/] (vigil api, pid {pid}, in the background)")
    else:
        console.print(f"Dashboard not started here; start it with:\n  {' '.join(command)}")
    console.print(f"One-time login key (POI role, valid 24 h, works once): [bold]{login_key}[/]")
    console.print(
        "More keys: [bold]vigil dashboard login-key[/]; stop it: [bold]vigil dashboard stop[/]; "
        f"log: {proc.log_file}"
    )
    return DemoDashboard(url, login_key, pid, command)


def _wait_until_up(url: str, proc: ServerProcess, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (our own http URL)
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.pid() is None or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard did not start; its log:\n{proc.log_tail()}")
        time.sleep(0.3)


def stop_demo_dashboard(settings: VigilSettings, timeout_s: float = 15.0) -> bool:
    """Stop the background dashboard of ``make demo``; True if it was running."""
    return server(settings).stop(timeout_s)
