"""Session-scoped real servers (Apache Kafka, and the ClickHouse server when installed) and
factories for unique names, so tests never share topics or tables. The servers and names come
from ``vigil.testing``, which the benches and users' own tests use too."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigil import testing
from vigil.stack import ClickHouseServer, KafkaBroker, find_server_binary
from vigil_app.settings import VigilSettings

IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with testing.kafka_broker(
        tmp_path_factory.mktemp("kafka"),
        retention_check_ms=1000,  # retention and erasure tests wait for deletion and compaction
        cleaner_backoff_ms=500,
    ) as broker:
        yield broker


@pytest.fixture
def settings(kafka_broker: KafkaBroker, tmp_path: Path) -> VigilSettings:
    """Settings for one test: the session broker, a private data dir, a unique topic prefix."""
    return testing.settings_for(VigilSettings, kafka_broker, tmp_path / "data")


@pytest.fixture
def new_topic(settings: VigilSettings) -> Callable[..., str]:
    """Create a topic with a unique name; returns the name."""
    return functools.partial(testing.new_topic, settings)


def require_clickhouse_server() -> None:
    """Skip without Debian's clickhouse-server binary; in CI, where it must be, fail."""
    if find_server_binary() is None:
        if IN_CI:
            pytest.fail("CI must test the ClickHouse server: apt-get install clickhouse-server")
        pytest.skip("no ClickHouse server binary installed (apt-get install clickhouse-server)")


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    require_clickhouse_server()
    with testing.clickhouse_server(tmp_path_factory.mktemp("clickhouse")) as server:
        yield server
