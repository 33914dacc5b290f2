"""The demo's stream apps as real subprocesses (``vigil alerts``, ``vigil sample``): configured
through ``VIGIL_*`` variables as production runs them, stopped with SIGTERM (then SIGKILL)."""

from __future__ import annotations

import os
import subprocess
import sys

from vigil_app.settings import VigilSettings


def app_env(settings: VigilSettings) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_CACHE_DIR": str(settings.cache_dir),
    }


def vigil_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from vigil_app.cli import main; main()", *args]


def terminate(proc: subprocess.Popen[bytes], wait_s: float = 30.0) -> None:
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(wait_s)
