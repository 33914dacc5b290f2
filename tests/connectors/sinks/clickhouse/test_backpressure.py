"""The ClickHouse server stopped mid-stream and started again: the sink pauses, retries with
backoff, stays in its group, and resumes by itself; nothing lost, nothing duplicated."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from connectors.sinks.clickhouse.sink import ClickHouseSink
from tests.connectors.sinks.clickhouse.support import (
    DetectionProducer,
    assert_exactly_once,
    create_topics,
    open_client,
)
from vigil.stack import ClickHouseServer, find_server_binary
from vigil.testing import free_port, poll_until
from vigil_app.settings import ClickHouseSettings, ClickHouseSinkSettings, VigilSettings


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ClickHouseServer]:
    """A server of this test's own, since the test stops it."""
    if find_server_binary() is None:
        pytest.skip("no ClickHouse server binary installed (apt-get install clickhouse-server)")
    server = ClickHouseServer(home=tmp_path / "ch", tcp_port=free_port(), http_port=free_port())
    server.start(timeout_s=60)
    yield server
    server.stop()


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


@pytest.mark.timeout(300)
def test_server_stopped_and_restarted_mid_stream(
    settings: VigilSettings, own_server: ClickHouseServer
) -> None:
    settings = settings.model_copy(
        update={
            "clickhouse": ClickHouseSettings(
                url=own_server.url + "?connect_timeout=1&send_receive_timeout=10",
                database=f"t_{uuid.uuid4().hex[:10]}",
            ),
            "clickhouse_sink": ClickHouseSinkSettings(
                batch_max_rows=300, batch_max_s=0.2, retry_initial_s=0.2, retry_max_s=1.0
            ),
        }
    )
    create_topics(settings)
    feed = DetectionProducer(settings)
    feed.send(500)
    client = open_client(settings)
    sink = ClickHouseSink(settings, client)
    sink.prepare()
    retries_before = metric("vigil_sink_clickhouse_retries_total")
    stop = threading.Event()
    saw_paused: list[float] = []

    def watch() -> None:
        saw_paused.append(metric("vigil_sink_clickhouse_paused_partitions"))

    runner = threading.Thread(target=sink.run, args=(stop,), kwargs={"idle": watch}, daemon=True)
    runner.start()
    poll_until(lambda: sink.stats.rows != 0, 60, 0.2)
    assert sink.stats.rows > 0

    own_server.stop()
    feed.send(1500)  # arrives while ClickHouse is down
    poll_until(lambda: metric("vigil_sink_clickhouse_healthy") == 0, 60, 0.2)
    assert metric("vigil_sink_clickhouse_healthy") == 0
    time.sleep(3)
    own_server.start(timeout_s=60)
    feed.send(500)

    poll_until(lambda: sink.idle and sink.stats.messages >= 2500, 120, 0.3)
    stop.set()
    runner.join(60)
    client.close()
    assert sink.stats.messages == 2500
    assert metric("vigil_sink_clickhouse_healthy") == 1
    assert metric("vigil_sink_clickhouse_retries_total") > retries_before
    assert max(saw_paused) > 0  # it paused its partitions rather than buffering without bound
    assert_exactly_once(settings, feed.produced, feed.topic)
