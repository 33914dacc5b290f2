"""The demo's analytics stage: the exactly-once ClickHouse sink over everything the demo's
topics hold (detections, alerts, drift statistics), then a few named queries over it."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from connectors.sinks.clickhouse.queries import named_query
from connectors.sinks.clickhouse.sink import SinkStats
from vigil import kafka
from vigil.clickhouse import ClickHouseClient, connect
from vigil.topics import Topic
from vigil_app.demo.drift import drift_topics
from vigil_app.settings import VigilSettings

SHOWN = ("busiest_cameras", "detections_per_camera_per_hour", "frames_without_detections")
SUNK = (Topic.DETECTIONS, Topic.ALERTS, Topic.DRIFT)


def sink_all(
    settings: VigilSettings, client: ClickHouseClient, timeout_s: float = 120.0
) -> SinkStats:
    """Sink ``SUNK`` up to their ends, and the drift stage's own drift topic if it has one (its
    windows carry the brightness alarm the dashboard charts)."""
    stats = sink_until_caught_up(settings, client, SUNK, timeout_s)
    drift = settings.model_copy(update={"topics": drift_topics(settings)})
    name = Topic.DRIFT.name_in(drift.topics)
    if name in kafka.admin(settings).list_topics(timeout=10).topics:
        more = sink_until_caught_up(drift, client, (Topic.DRIFT,), timeout_s)
        stats = SinkStats(
            messages=stats.messages + more.messages,
            rows=stats.rows + more.rows,
            dead_letters=stats.dead_letters + more.dead_letters,
            batches=stats.batches + more.batches,
        )
    return stats


def sink_and_show(settings: VigilSettings, console: Console, timeout_s: float = 120.0) -> SinkStats:
    """Run the sink until it has everything, then print the named queries in ``SHOWN`` (at
    most 8 rows each)."""
    client = connect(settings)
    db = settings.clickhouse.database
    try:
        with console.status("Sinking into embedded ClickHouse (exactly once)..."):
            stats = sink_all(settings, client, timeout_s)
        for name in SHOWN:
            query = named_query(name)
            names, rows = client.query_columns(query.sql(db))
            table = Table(*names, title=f"vigil sql --query {name}", caption=query.description)
            for row in rows[:8]:
                table.add_row(*(str(v) for v in row))
            if len(rows) > 8:
                table.add_row(*(["..."] * len(names)))
            console.print(table)
    finally:
        client.close()
    console.print(
        f"ClickHouse sink: {stats.messages} events read, {stats.rows} rows written "
        f"in {stats.batches} batches; try [bold]vigil sql --list[/]."
    )
    return stats
