"""``make demo``'s dashboard step: alerts and drift sunk for the charts, ``vigil api`` started in
the background, a login key that works exactly once, ``vigil dashboard stop`` ends it."""

from __future__ import annotations

import io

import httpx
import psutil
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.dashboards.web.helpers import seed
from vigil.clickhouse import connect
from vigil.testing import free_port
from vigil_app.cli import app
from vigil_app.demo.dashboard import server, start_demo_dashboard, stop_demo_dashboard
from vigil_app.demo.sink import sink_all
from vigil_app.settings import IngestSettings, VigilSettings


@pytest.mark.timeout(240)
def test_demo_starts_the_dashboard_in_the_background(settings: VigilSettings) -> None:
    s = settings.model_copy(update={"ingest": IngestSettings(api_port=free_port())})
    seeded = seed(s, camera="demo-cam")
    _sink(s)  # the demo's sink stage, which runs before its dashboard stage
    out = io.StringIO()
    started = start_demo_dashboard(s, Console(file=out, width=200), detach=True)
    try:
        text = out.getvalue()
        assert started.url in text
        assert started.login_key in text
        assert "vigil dashboard stop" in text
        assert started.pid is not None
        assert psutil.Process(started.pid).is_running()
        # the alert reached ClickHouse for the charts
        client = connect(s)
        try:
            rows = client.query(f"SELECT alert_id FROM {s.clickhouse.database}.alerts")
        finally:
            client.close()
        assert [r[0] for r in rows] == [seeded["alert"]["alert_id"]]

        base = started.url.removesuffix("/dashboard/")
        with httpx.Client(base_url=base, timeout=30) as browser:
            assert browser.get("/dashboard/api/cameras").status_code == 401
            ok = browser.post("/dashboard/login", data={"key": started.login_key})
            assert ok.status_code == 303
            page = browser.get("/dashboard/")
            assert 'data-camera="demo-cam"' in page.text
            assert "POI role" in page.text
        with httpx.Client(base_url=base, timeout=30) as again:
            used = again.post("/dashboard/login", data={"key": started.login_key})
            assert used.status_code == 200
            assert "not valid" in used.text
        # a fresh key from the CLI works (the CLI and the server share the data dir)
        env = {"VIGIL_DATA_DIR": str(s.data_dir)}
        minted = CliRunner().invoke(app, ["dashboard", "login-key", "--viewer"], env=env)
        assert minted.exit_code == 0, minted.output
        with httpx.Client(base_url=base, timeout=30) as third:
            key = minted.output.strip()
            assert third.post("/dashboard/login", data={"key": key}).status_code == 303
            assert "viewer: faces blurred" in third.get("/dashboard/").text
        status = CliRunner().invoke(app, ["dashboard", "status"], env=env)
        assert f"running (pid {started.pid})" in status.output
    finally:
        stopped = stop_demo_dashboard(s)
    assert stopped
    assert server(s).pid() is None


def _sink(settings: VigilSettings) -> None:
    client = connect(settings)
    try:
        sink_all(settings, client)
    finally:
        client.close()


def test_under_pytest_the_demo_prints_the_command(settings: VigilSettings) -> None:
    s = settings.model_copy(update={"ingest": IngestSettings(api_port=free_port())})
    seed(s)
    out = io.StringIO()
    started = start_demo_dashboard(s, Console(file=out, width=200))
    assert started.pid is None
    assert "start it with" in out.getvalue()
    assert " ".join(started.command) in out.getvalue()
