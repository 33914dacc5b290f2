"""``vigil`` commands as child processes, configured the way production configures them
(``VIGIL_*`` variables) so a test or a bench runs the very code users run: any command
(:class:`VigilProcess`, in its own process group so a kill reaches all of it), the alerting
app and alert delivery by name, and ``vigil api`` until its health check answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from vigil.settings import CoreSettings
from vigil.testing.waits import wait_until


def vigil_command(*args: str) -> list[str]:
    """The ``vigil`` console script of this interpreter's environment, with ``args``."""
    return [str(Path(sys.executable).parent / "vigil"), *args]


def child_env(settings: CoreSettings, **extra: str) -> dict[str, str]:
    """The environment for a ``vigil`` child on ``settings``' broker, topics, data and cache:
    the parent's environment less its own ``VIGIL_*`` (so a developer's shell cannot leak in),
    then ``extra`` (more ``VIGIL_*`` settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        VIGIL_TOPICS__PREFIX=settings.topics.prefix,
        VIGIL_DATA_DIR=str(settings.data_dir),
        VIGIL_CACHE_DIR=str(settings.cache_dir),
    )
    env.update(extra)
    return env


def process_env(settings: CoreSettings, **extra: str) -> dict[str, str]:
    """:func:`child_env` with the detections topic's partition count and JSON logs, as
    :class:`VigilProcess` runs its commands; ``extra`` overrides any of them."""
    defaults = {
        "VIGIL_TOPICS__DETECTIONS_PARTITIONS": str(settings.topics.detections_partitions),
        "VIGIL_LOG_FORMAT": "json",
    }
    return child_env(settings, **{**defaults, **extra})  # ``extra`` overrides


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout_s)


class VigilProcess:
    """A ``vigil`` command in its own process group (so a kill reaches all of it); its output
    goes to a log file."""

    def __init__(self, args: list[str], settings: CoreSettings, log_path: Path, **env: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            vigil_command(*args),
            env=process_env(settings, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean shutdown, no final commit."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM; the exit status (SIGKILL after ``timeout_s``)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class AlertsProcess(VigilProcess):
    """``vigil alerts --rules FILE``."""

    def __init__(self, settings: CoreSettings, rules: Path, log_path: Path, **env: str) -> None:
        args = ["alerts", "--rules", str(rules), "--loglevel", "info"]
        super().__init__(args, settings, log_path, **env)


class DeliverProcess(VigilProcess):
    """``vigil deliver --rules FILE``."""

    def __init__(self, settings: CoreSettings, rules: Path, log_path: Path, **env: str) -> None:
        super().__init__(["deliver", "--rules", str(rules)], settings, log_path, **env)


@contextmanager
def api_process(
    env: dict[str, str], port: int, log: Path, timeout_s: float = 60.0
) -> Iterator[str]:
    """A real ``vigil api`` on loopback ``port`` with ``env`` (settings as ``VIGIL_*``), its
    output in ``log``; yields its base URL once ``/v1/health`` answers 200, terminates it after.
    A process that exits or never gets healthy raises with the end of its log."""

    with log.open("wb") as sink:
        proc = subprocess.Popen(
            vigil_command("api", "--port", str(port)),
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:

            def healthy() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"vigil api exited: {log.read_text()[-3000:]}")
                try:
                    return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(healthy, timeout_s, f"vigil api on {url} ({log})")
            yield url
        finally:
            proc.terminate()
            proc.wait(30)
