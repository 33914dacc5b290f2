"""The settings of ``connectors.sinks.clickhouse``: its section of the settings file, and
the settings the sink process is built with."""

from __future__ import annotations

from pydantic import Field

from vigil.sections import Section
from vigil.settings import CoreSettings


class ClickHouseSinkSettings(Section):
    """``vigil sink clickhouse``: batching, retention and retries of the exactly-once sink."""

    group_id: str = "vigil-clickhouse-sink"
    session_timeout_ms: int = Field(
        45_000, ge=1000, description="How soon the group notices a dead sink (Kafka's default)."
    )
    batch_max_rows: int = Field(10_000, ge=1, description="Flush when this many rows wait.")
    batch_max_s: float = Field(1.0, gt=0, description="Flush at least this often (s).")
    personal_ttl_hours: float = Field(
        72.0, gt=0, description="Per-object detections and alerts (personal data)."
    )
    aggregate_ttl_days: float = Field(395.0, gt=0, description="Frames, drift and rollups.")
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    shutdown_timeout_s: float = Field(20.0, gt=0, description="Final flush on SIGTERM.")


class SinkProcessSettings(CoreSettings):
    """The settings the ClickHouse sink is built with."""

    clickhouse_sink: ClickHouseSinkSettings = ClickHouseSinkSettings()
