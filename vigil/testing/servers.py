"""Real servers on free loopback ports (a single-node Kafka, a ClickHouse server) and settings
that point at them with a unique topic prefix, so no two tests or runs share anything."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from vigil.settings import CoreSettings, KafkaSettings, TopicSettings
from vigil.stack import ClickHouseServer, KafkaBroker, KafkaCluster

S = TypeVar("S", bound=CoreSettings)


def free_port() -> int:
    """A TCP port free on loopback now (the OS picks it), for a server about to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int, low: int = 20_000, high: int = 60_000) -> int:
    """The first of ``count`` consecutive TCP ports all free on loopback now."""
    for _ in range(200):
        base = low + uuid.uuid4().int % (high - low - count)
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports between {low} and {high}")


@contextmanager
def kafka_cluster(
    home: Path, brokers: int = 3, cache_dir: Path | None = None, timeout_s: float = 240.0
) -> Iterator[KafkaCluster]:
    """A real replicated Kafka cluster (vigil/stack/cluster.py) under ``home`` on free ports,
    stopped after."""
    base = free_port_range(2 * brokers)
    cluster = KafkaCluster(
        home=home,
        cache_dir=cache_dir or user_cache_dir(),
        brokers=brokers,
        port=base,
        controller_port=base + 1,
    )
    cluster.start(timeout_s=timeout_s)
    try:
        yield cluster
    finally:
        cluster.stop()


def user_cache_dir() -> Path:
    """The user's Vigil cache, so Kafka's jars and the models are fetched once for all runs."""
    return CoreSettings().cache_dir


@contextmanager
def kafka_broker(
    home: Path,
    cache_dir: Path | None = None,
    *,
    retention_check_ms: int = 300_000,
    cleaner_backoff_ms: int = 15_000,
    timeout_s: float = 180.0,
) -> Iterator[KafkaBroker]:
    """A real single-node Apache Kafka (KRaft) under ``home`` on free ports, stopped after.
    Its jars are fetched into ``cache_dir`` (default: the user's cache) once."""
    broker = KafkaBroker(
        home=home,
        cache_dir=cache_dir or user_cache_dir(),
        port=free_port(),
        controller_port=free_port(),
        retention_check_ms=retention_check_ms,
        cleaner_backoff_ms=cleaner_backoff_ms,
    )
    broker.start(timeout_s=timeout_s)
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def clickhouse_server(home: Path, timeout_s: float = 60.0) -> Iterator[ClickHouseServer]:
    """A real ClickHouse server (Debian's ``clickhouse-server`` binary) under ``home`` on free
    ports, stopped after; ``vigil.stack.find_server_binary()`` says whether one is installed."""
    server = ClickHouseServer(home=home, tcp_port=free_port(), http_port=free_port())
    server.start(timeout_s=timeout_s)
    try:
        yield server
    finally:
        server.stop()


def unique_prefix(tag: str = "t") -> str:
    """A topic prefix no other test or run uses, so nothing is shared by accident."""
    return f"{tag}{uuid.uuid4().hex[:10]}"


def settings_for(cls: type[S], broker: KafkaBroker, data_dir: Path, **sections: Any) -> S:
    """Settings of class ``cls`` (a process's settings, or the full ones) on ``broker`` with a
    unique topic prefix, a private ``data_dir`` and the user's cache; ``sections`` override any
    field (``topics=``, ``worker=`` ...)."""
    fields: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=broker.bootstrap),
        "topics": TopicSettings(prefix=unique_prefix()),
        "data_dir": data_dir,
        "cache_dir": user_cache_dir(),
    }
    return cls(**{**fields, **sections})
