"""The local stack: a real Apache Kafka broker and, when installed, a ClickHouse server, run on
loopback under ``<data_dir>/stack``. Production points the settings at real clusters instead."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.settings import CoreSettings
from vigil.stack.clickhouse import ClickHouseServer, find_server_binary
from vigil.stack.cluster import KafkaCluster
from vigil.stack.kafka import KafkaBroker, fetch_kafka_jars
from vigil.stack.process import ServerStatus, StackError

__all__ = [
    "ClickHouseServer",
    "KafkaBroker",
    "KafkaCluster",
    "ServerStatus",
    "Stack",
    "StackError",
    "fetch_kafka_jars",
    "find_server_binary",
]


@dataclass(frozen=True)
class Stack:
    kafka: KafkaBroker | KafkaCluster
    clickhouse: ClickHouseServer

    @classmethod
    def from_settings(cls, settings: CoreSettings, brokers: int | None = None) -> Stack:
        """The stack the settings name; ``brokers`` (default ``stack.kafka_brokers``) over 1 is
        a replicated cluster under ``<data_dir>/stack/kafka-cluster``."""
        home = settings.data_dir / "stack"
        st = settings.stack
        count = brokers or st.kafka_brokers
        kafka: KafkaBroker | KafkaCluster = (
            KafkaBroker(
                home=home / "kafka",
                cache_dir=settings.cache_dir,
                version=st.kafka_version,
                port=st.kafka_port,
                controller_port=st.kafka_controller_port,
                heap_mb=st.kafka_heap_mb,
            )
            if count == 1
            else KafkaCluster(
                home=home / "kafka-cluster",
                cache_dir=settings.cache_dir,
                brokers=count,
                version=st.kafka_version,
                port=st.kafka_port,
                controller_port=st.kafka_controller_port,
                heap_mb=st.kafka_heap_mb,
            )
        )
        return cls(
            kafka=kafka,
            clickhouse=ClickHouseServer(
                home=home / "clickhouse",
                tcp_port=st.clickhouse_tcp_port,
                http_port=st.clickhouse_http_port,
            ),
        )

    def statuses(self) -> list[ServerStatus]:
        kafka = self.kafka
        out = kafka.statuses() if isinstance(kafka, KafkaCluster) else [kafka.status()]
        if self.clickhouse.process.pid() is not None or self.clickhouse.config_file.exists():
            out.append(self.clickhouse.status())
        return out

    def down(self, timeout_s: float = 30.0) -> list[str]:
        """Stop whatever of the stack runs; the names of what was stopped."""
        stopped = []
        if self.clickhouse.stop(timeout_s):
            stopped.append("clickhouse")
        if self.kafka.stop(timeout_s):
            stopped.append("kafka")
        return stopped
