"""Worker test fixtures: settings with a private group, and a cheap detector."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_workers.worker.loop import Worker
from tests.gpu_workers.worker.helpers import tiny_detector
from vigil.testing import provision
from vigil_app.settings import ModelSettings, VigilSettings, WorkerSettings


def worker_settings(
    base: VigilSettings, detector: str, *, partitions: int | None = None, **worker: Any
) -> VigilSettings:
    """``base`` with ``detector`` (one thread, batches of 8), a worker group of its own, and
    ``partitions`` frames partitions when given."""
    topics = {}
    if partitions is not None:
        topics["topics"] = base.topics.model_copy(update={"frames_partitions": partitions})
    return base.model_copy(
        update={
            **topics,
            "models": ModelSettings(detector=detector, threads=1, max_batch=8),
            "worker": WorkerSettings(
                group_id=f"g-{uuid.uuid4().hex[:8]}", session_timeout_ms=6000, **worker
            ),
        }
    )


@pytest.fixture
def tiny_model(tmp_path: Path) -> str:
    return str(tiny_detector(tmp_path / "tiny"))


@pytest.fixture
def run_worker() -> Iterator[Callable[..., tuple[Worker, threading.Thread]]]:
    """Start ``Worker(settings)`` in a thread; all are stopped at the end of the test."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(settings: VigilSettings, instance: str = "w0") -> tuple[Worker, threading.Thread]:
        provision(settings)
        worker = Worker(settings, instance=instance)
        thread = threading.Thread(target=worker.run, name=f"worker-{instance}", daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker, thread

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(60)
