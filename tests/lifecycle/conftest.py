"""Both ClickHouse backends for the retraining loop (the sink tests' fixture)."""

from tests.connectors.sinks.clickhouse.support import sink_settings

__all__ = ["sink_settings"]
