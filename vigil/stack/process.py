"""A detached server process owned through a pid file: start once, find again, stop cleanly.

The pid file holds the pid and the process's start time; it is trusted only while a live
process has both, so a stale file after a reboot (pid reused) is never mistaken for our server.
(The command line is no identity: a server may briefly blank it while it re-executes itself.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from vigil.errors import VigilError


class StackError(VigilError, RuntimeError):
    """The local stack cannot be started as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ServerProcess:
    home: Path  # holds pid, state and log files

    @property
    def pid_file(self) -> Path:
        return self.home / "server.pid"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    def pid(self) -> int | None:
        """The pid of our running server, or None."""
        try:
            pid_text, started = self.pid_file.read_text().split()
            proc = psutil.Process(int(pid_text))
            if proc.status() != psutil.STATUS_ZOMBIE and f"{proc.create_time():.3f}" == started:
                return proc.pid
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        return None

    def spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> int:
        """Start ``cmd`` in its own session (it outlives the CLI), output to the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.home,
                start_new_session=True,
            )
        started = psutil.Process(proc.pid).create_time()
        self.pid_file.write_text(f"{proc.pid} {started:.3f}\n")
        return proc.pid

    def stop(self, timeout_s: float) -> bool:
        """SIGTERM, wait for a clean exit, SIGKILL after ``timeout_s``. True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def rss_bytes(self) -> int | None:
        pid = self.pid()
        if pid is None:
            return None
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.NoSuchProcess:
            return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def read_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            return state
        except (FileNotFoundError, ValueError):
            return {}

    def write_state(self, **values: Any) -> None:
        self.state_file.write_text(json.dumps({**self.read_state(), **values}, indent=2))


def wait_for(check: Any, timeout_s: float, process: ServerProcess, what: str) -> float:
    """Poll ``check()`` until it returns True; seconds waited. Fails fast if the process died."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if process.pid() is None:
            raise RuntimeError(f"{what} exited during start-up; log tail:\n{process.log_tail()}")
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s; log tail:\n{process.log_tail()}")


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    startup_s: float | None
    rss_bytes: int | None
    log_file: Path
    detail: str = ""
