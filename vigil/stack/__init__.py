"""The local stack: a real Apache Kafka broker and, when installed, a ClickHouse server, run on
loopback under ``<data_dir>/stack``. Production points the settings at real clusters instead."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.settings import CoreSettings
from vigil.stack.clickhouse import ClickHouseServer, find_server_binary
from vigil.stack.kafka import KafkaBroker, fetch_kafka_jars
from vigil.stack.process import ServerStatus, StackError

__all__ = [
    "ClickHouseServer",
    "KafkaBroker",
    "ServerStatus",
    "Stack",
    "StackError",
    "fetch_kafka_jars",
    "find_server_binary",
]


@dataclass(frozen=True)
class Stack:
    kafka: KafkaBroker
    clickhouse: ClickHouseServer

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> Stack:
        home = settings.data_dir / "stack"
        st = settings.stack
        return cls(
            kafka=KafkaBroker(
                home=home / "kafka",
                cache_dir=settings.cache_dir,
                version=st.kafka_version,
                port=st.kafka_port,
                controller_port=st.kafka_controller_port,
                heap_mb=st.kafka_heap_mb,
            ),
            clickhouse=ClickHouseServer(
                home=home / "clickhouse",
                tcp_port=st.clickhouse_tcp_port,
                http_port=st.clickhouse_http_port,
            ),
        )

    def statuses(self) -> list[ServerStatus]:
        out = [self.kafka.status()]
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
