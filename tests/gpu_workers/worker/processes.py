"""``vigil worker`` as a real subprocess (for the kill and rebalance tests); the
read_committed collector of its detections is ``vigil.testing.Collector``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vigil_app.settings import VigilSettings


def worker_env(settings: VigilSettings) -> dict[str, str]:
    w, m = settings.worker, settings.models
    return {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_TOPICS__FRAMES_PARTITIONS": str(settings.topics.frames_partitions),
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_CACHE_DIR": str(settings.cache_dir),
        "VIGIL_MODELS__DETECTOR": m.detector,
        "VIGIL_MODELS__THREADS": str(m.threads),
        "VIGIL_MODELS__MAX_BATCH": str(m.max_batch),
        "VIGIL_WORKER__GROUP_ID": w.group_id,
        "VIGIL_WORKER__SESSION_TIMEOUT_MS": str(w.session_timeout_ms),
        "VIGIL_WORKER__MAX_WAIT_MS": str(w.max_wait_ms),
        "VIGIL_WORKER__DECODE_THREADS": "1",
        "VIGIL_LOG_LEVEL": "INFO",
    }


def start_worker(
    settings: VigilSettings, instance: str, log: Path, **env: str
) -> subprocess.Popen[bytes]:
    """``vigil worker`` on ``settings``; ``env``: more variables (``VIGIL_FAULTS=...``)."""
    vigil = Path(sys.executable).parent / "vigil"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(vigil), "worker", "--instance", instance],
            env={**worker_env(settings), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
