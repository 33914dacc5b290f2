"""The sink as its own process (``vigil sink clickhouse``), SIGKILLed four times during a
stream of thousands of events: after an insert and before the offset commit, between the
inserts into two tables, mid-stream, and right after start (during the group join); then
0 duplicates and 0 missing, on chDB and on the ClickHouse server."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.connectors.sinks.clickhouse.support import (
    DetectionProducer,
    assert_exactly_once,
    end_offsets,
    group_committed,
)
from vigil.testing import child_env, wait_until
from vigil_app.settings import VigilSettings

SPAWNED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_sink_outlives_its_test() -> Iterator[None]:
    yield
    while SPAWNED:
        proc = SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def spawn_sink(settings: VigilSettings, fault: str = "") -> subprocess.Popen[bytes]:
    env = child_env(
        settings,
        VIGIL_CLICKHOUSE__URL=settings.clickhouse.url,
        VIGIL_CLICKHOUSE__DATABASE=settings.clickhouse.database,
        VIGIL_CLICKHOUSE_SINK__BATCH_MAX_ROWS="300",
        VIGIL_CLICKHOUSE_SINK__BATCH_MAX_S="0.2",
        VIGIL_CLICKHOUSE_SINK__RETRY_INITIAL_S="0.2",
        VIGIL_CLICKHOUSE_SINK__RETRY_MAX_S="2",
        VIGIL_CLICKHOUSE_SINK__SESSION_TIMEOUT_MS="6000",
        VIGIL_FAULTS=fault,
    )
    log = (settings.data_dir / "sink.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from vigil_app.cli import main; main()", "sink", "clickhouse"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    SPAWNED.append(proc)
    return proc


def committed_total(settings: VigilSettings, topic: str) -> int:
    return sum(max(0, o) for o in group_committed(settings, topic).values())


@pytest.mark.timeout(400)
def test_sigkilled_sink_leaves_no_duplicate_and_no_gap(
    sink_settings: VigilSettings, detections: DetectionProducer
) -> None:
    settings, topic = sink_settings, detections.topic
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    # 1. killed after a batch's inserts, before its offsets are committed
    detections.send(1000)
    proc = spawn_sink(settings, fault="after_insert:3")
    assert proc.wait(120) == -signal.SIGKILL
    # 2. killed between the frames INSERT and the detections INSERT of a batch
    detections.send(1000)
    proc = spawn_sink(settings, fault="between_tables:3")
    assert proc.wait(120) == -signal.SIGKILL
    # 3. killed mid-stream while events keep arriving
    before = committed_total(settings, topic)
    feeder = threading.Thread(target=detections.send, args=(1000,))
    proc = spawn_sink(settings)
    feeder.start()
    wait_until(lambda: committed_total(settings, topic) > before, 120, "no progress", 0.3)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    feeder.join(60)
    # 4. killed right after start, while it joins the group and is assigned partitions
    proc = spawn_sink(settings)
    time.sleep(2.5)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    # Finally a clean run to the end, stopped with SIGTERM (flushes, commits, exits 0).
    detections.send(500)
    proc = spawn_sink(settings)
    ends = end_offsets(settings, topic)

    def caught_up() -> bool:
        done = group_committed(settings, topic)
        return all(done.get(p, -1) >= end for p, end in ends.items() if end > 0)

    wait_until(caught_up, 150, "sink did not catch up", 0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    log = (settings.data_dir / "sink.log").read_text()
    assert log.count("fault injection: SIGKILL") == 2
    assert detections.produced.frames == 3500
    assert_exactly_once(settings, detections.produced, topic)
