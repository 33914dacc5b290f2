"""Both ClickHouse backends for the evaluation's source tests (the sink tests' fixture)."""

from tests.connectors.sinks.clickhouse.support import sink_settings

__all__ = ["sink_settings"]
