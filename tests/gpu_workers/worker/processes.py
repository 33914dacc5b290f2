"""``vigil worker`` as a real subprocess (for the kill and rebalance tests), and a
read_committed collector that keeps reading detections while the test runs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from schemas.contracts import serde_for
from vigil import kafka
from vigil.topics import Topic
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


def start_worker(settings: VigilSettings, instance: str, log: Path) -> subprocess.Popen[bytes]:
    vigil = Path(sys.executable).parent / "vigil"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(vigil), "worker", "--instance", instance],
            env=worker_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


class Collector:
    """Reads committed detections in a thread; counts every frame id it sees."""

    def __init__(self, settings: VigilSettings) -> None:
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._settings = settings
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _run(self) -> None:
        topic = Topic.DETECTIONS.name_in(self._settings.topics)
        serde = serde_for(self._settings, Topic.DETECTIONS)
        cons = kafka.consumer(self._settings, f"collector-{time.monotonic_ns()}")
        cons.subscribe([topic])
        try:
            while not self._stop.is_set():
                for msg in cons.consume(500, 0.2):
                    if msg.error() is None:
                        self.counts[serde.decode(msg)["frame_id"]] += 1
        finally:
            cons.close()

    def wait_for(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.total >= n:
                return True
            time.sleep(0.1)
        return False

    def stop(self, settle_s: float = 3.0) -> None:
        time.sleep(settle_s)  # late duplicates would arrive now
        self._stop.set()
        self._thread.join(30)
