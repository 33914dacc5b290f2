"""Fixtures of the ClickHouse sink's tests (defined in ``support``)."""

from tests.connectors.sinks.clickhouse.support import detections, sink_settings

__all__ = ["detections", "sink_settings"]
