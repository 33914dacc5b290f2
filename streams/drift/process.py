"""``vigil drift`` as a child process configured through the environment, exactly as it runs
in production: used by the demo, the benchmark and the tests (which kill and restart it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.drift.settings import DriftProcessSettings


class DriftProcess:
    def __init__(self, settings: DriftProcessSettings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The parent's environment less any VIGIL_* of its own, plus these settings."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update(
            {
                "VIGIL_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
                "VIGIL_TOPICS__PREFIX": s.topics.prefix,
                "VIGIL_DATA_DIR": str(s.data_dir),
                "VIGIL_CACHE_DIR": str(s.cache_dir),
                "VIGIL_LOG_LEVEL": "WARNING",
                "VIGIL_DRIFT": s.drift.model_dump_json(),
            }
        )
        return env

    def start(self) -> None:
        vigil = Path(sys.executable).parent / "vigil"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(vigil), "drift"], env=self.env(), stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
