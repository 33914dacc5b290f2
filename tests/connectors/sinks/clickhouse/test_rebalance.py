"""Two sink processes in one group on the ClickHouse server (chDB is single-process): one is
SIGKILLed mid-stream, its partitions move to the other, a third joins (a cooperative
rebalance moves partitions between live sinks); afterwards 0 duplicates and 0 missing."""

from __future__ import annotations

import signal
import threading

import pytest

from tests.connectors.sinks.clickhouse.support import (
    DetectionProducer,
    assert_exactly_once,
    end_offsets,
    group_committed,
    members_with_partitions,
)
from tests.connectors.sinks.clickhouse.test_crash import (
    _no_sink_outlives_its_test,
    committed_total,
    spawn_sink,
)
from vigil.testing import wait_until
from vigil_app.settings import VigilSettings

__all__ = ["_no_sink_outlives_its_test"]  # the autouse fixture kills leftover sinks


@pytest.mark.timeout(300)
def test_sinks_sharing_a_group_survive_kills_and_rebalances(
    sink_settings: VigilSettings, detections: DetectionProducer
) -> None:
    if not sink_settings.clickhouse.url:
        pytest.skip("chDB is embedded: one process per database")
    settings, topic = sink_settings, detections.topic
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    detections.send(600, cameras=16)  # keys spread over all four partitions
    first, second = spawn_sink(settings), spawn_sink(settings)
    wait_until(lambda: members_with_partitions(settings, topic) == 2, 120, "no split", 0.3)
    feeder = threading.Thread(target=detections.send, args=(1500, 16, None, 0.3))
    feeder.start()
    wait_until(lambda: committed_total(settings, topic) > 300, 120, "no progress", 0.3)
    first.send_signal(signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL
    # the survivor takes over the dead sink's partitions, then shares them with a newcomer
    wait_until(lambda: members_with_partitions(settings, topic) == 1, 120, "no takeover", 0.3)
    third = spawn_sink(settings)
    wait_until(lambda: members_with_partitions(settings, topic) == 2, 120, "no rebalance", 0.3)
    feeder.join(120)
    detections.send(400, cameras=16)
    ends = end_offsets(settings, topic)

    def caught_up() -> bool:
        done = group_committed(settings, topic)
        return all(done.get(p, -1) >= end for p, end in ends.items() if end > 0)

    wait_until(caught_up, 150, "sinks did not catch up", 0.3)
    for proc in (second, third):
        proc.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0
    assert third.wait(60) == 0
    assert len([p for p, end in ends.items() if end > 0]) == 4
    assert_exactly_once(settings, detections.produced, topic)
