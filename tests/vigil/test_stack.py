"""``vigil stack up | down | status`` through the CLI, on a private broker of its own."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from confluent_kafka import TopicPartition
from typer.testing import CliRunner

from tests.conftest import IN_CI
from vigil import kafka
from vigil.stack import Stack, find_server_binary
from vigil.testing import free_port, poll_until, user_cache_dir
from vigil.topics import Topic
from vigil_app.cli import app
from vigil_app.settings import load_settings


def _processes_under(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_up_twice_down_and_restart_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    env = {
        "VIGIL_DATA_DIR": str(tmp_path),
        "VIGIL_CACHE_DIR": str(user_cache_dir()),
        "VIGIL_STACK__KAFKA_PORT": str(port),
        "VIGIL_STACK__KAFKA_CONTROLLER_PORT": str(free_port()),
        "VIGIL_STACK__CLICKHOUSE_TCP_PORT": str(free_port()),
        "VIGIL_STACK__CLICKHOUSE_HTTP_PORT": str(free_port()),
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with_clickhouse = find_server_binary() is not None or IN_CI
    up_args = ["stack", "up", *(["--clickhouse-server"] if with_clickhouse else [])]
    runner = CliRunner()
    settings = load_settings()
    stack = Stack.from_settings(settings)
    try:
        first = runner.invoke(app, up_args)
        assert first.exit_code == 0, first.output
        assert "kafka: started" in first.output
        pid = stack.kafka.status().pid
        assert pid is not None

        again = runner.invoke(app, up_args)
        assert again.exit_code == 0, again.output
        assert "kafka: already running" in again.output
        assert stack.kafka.status().pid == pid
        if with_clickhouse:
            assert "clickhouse: already running" in again.output

        assert runner.invoke(app, ["topics", "ensure"]).exit_code == 0
        frames = Topic.FRAMES.name_in(settings.topics)
        prod = kafka.producer(settings)
        prod.produce(frames, b"kept across restarts", key=b"cam-1", partition=2)
        assert prod.flush(10) == 0

        status = runner.invoke(app, ["stack", "status"], terminal_width=200)
        assert status.exit_code == 0, status.output
        assert "running" in status.output
        assert "MiB" in status.output
        st = stack.kafka.status()
        assert st.startup_s is not None
        assert st.startup_s > 0
        assert st.rss_bytes is not None
        assert st.rss_bytes > 50 * 2**20

        down = runner.invoke(app, ["stack", "down"])
        assert down.exit_code == 0, down.output
        assert "kafka" in down.output
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert _processes_under(tmp_path) == []
        stopped = runner.invoke(app, ["stack", "status"], terminal_width=200)
        assert stopped.exit_code == 3
        assert "stopped" in stopped.output

        restarted = runner.invoke(app, ["stack", "up"])
        assert restarted.exit_code == 0, restarted.output
        assert "kafka: started" in restarted.output
        md = kafka.admin(settings).list_topics(timeout=10).topics
        assert len(md[frames].partitions) == 4
        cons = kafka.consumer(settings, "restart-check")
        cons.assign([TopicPartition(frames, 2, 0)])
        values: list[bytes | None] = []

        def read() -> bool:
            values.extend(m.value() for m in cons.consume(10, timeout=1.0) if m.error() is None)
            return bool(values)

        poll_until(read, 30, interval_s=0)
        cons.close()
        assert values == [b"kept across restarts"]
    finally:
        runner.invoke(app, ["stack", "down"])
    assert _processes_under(tmp_path) == []


def test_port_taken_by_a_stranger_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        taken = stranger.getsockname()[1]
        monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("VIGIL_CACHE_DIR", str(user_cache_dir()))
        monkeypatch.setenv("VIGIL_STACK__KAFKA_PORT", str(taken))
        result = CliRunner().invoke(app, ["stack", "up"])
    assert result.exit_code == 1
    assert f"port {taken} is taken" in result.output


def test_bad_config_file_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("stack:\n  kafka_prot: 1\n")
    result = CliRunner().invoke(app, ["--config", str(cfg), "stack", "status"])
    assert result.exit_code == 2
    assert "unknown setting 'stack.kafka_prot'" in result.output
