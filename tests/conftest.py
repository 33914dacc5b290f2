"""Session-scoped real servers (Apache Kafka, and the ClickHouse server when installed) and
factories for unique names, so tests never share topics or tables."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil import kafka
from vigil.stack import ClickHouseServer, KafkaBroker, find_server_binary
from vigil.topics import wait_for_leaders
from vigil_app.settings import KafkaSettings, TopicSettings, VigilSettings

IN_CI = os.environ.get("CI") == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_cache_dir() -> Path:
    """The user's Vigil cache, so Kafka's jars are fetched once for demo and tests alike."""
    return VigilSettings().cache_dir


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(
        home=tmp_path_factory.mktemp("kafka"),
        cache_dir=shared_cache_dir(),
        port=free_port(),
        controller_port=free_port(),
        retention_check_ms=1000,  # retention and erasure tests wait for deletion and compaction
        cleaner_backoff_ms=500,
    )
    broker.start(timeout_s=180)
    yield broker
    broker.stop()


@pytest.fixture
def settings(kafka_broker: KafkaBroker, tmp_path: Path) -> VigilSettings:
    """Settings for one test: the session broker, a private data dir, a unique topic prefix."""
    return VigilSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap),
        topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:10]}"),
        data_dir=tmp_path / "data",
        cache_dir=shared_cache_dir(),
    )


@pytest.fixture
def new_topic(settings: VigilSettings) -> Callable[..., str]:
    """Create a topic with a unique name; returns the name."""
    from confluent_kafka.admin import NewTopic

    def make(partitions: int = 1, **config: str) -> str:
        name = f"{settings.topics.prefix}.{uuid.uuid4().hex[:8]}"
        client = kafka.admin(settings)
        fut = client.create_topics([NewTopic(name, partitions, 1, config=config)])[name]
        fut.result(30)
        wait_for_leaders(client, [name])
        return name

    return make


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    if find_server_binary() is None:
        if IN_CI:
            pytest.fail("CI must test the ClickHouse server: apt-get install clickhouse-server")
        pytest.skip("no ClickHouse server binary installed (apt-get install clickhouse-server)")
    server = ClickHouseServer(
        home=tmp_path_factory.mktemp("clickhouse"), tcp_port=free_port(), http_port=free_port()
    )
    server.start(timeout_s=60)
    yield server
    server.stop()
