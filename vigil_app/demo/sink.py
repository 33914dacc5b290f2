"""The end of ``make demo``: sink what the demo produced into embedded ClickHouse and print a
few named queries over it."""

from __future__ import annotations

from rich.console import Console

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from connectors.sinks.clickhouse.queries import named_query
from connectors.sinks.clickhouse.sink import SinkStats
from vigil.clickhouse import connect
from vigil_app.settings import VigilSettings

SHOWN = ("busiest_cameras", "detections_per_camera_per_hour", "frames_without_detections")


def sink_and_show(settings: VigilSettings, console: Console, timeout_s: float = 120.0) -> SinkStats:
    """Run the exactly-once sink until it has everything on the detections topic, then print
    the named queries in ``SHOWN`` (at most 8 rows each)."""
    from rich.table import Table

    client = connect(settings)
    db = settings.clickhouse.database
    try:
        with console.status("Sinking detections into embedded ClickHouse (exactly once)..."):
            stats = sink_until_caught_up(settings, client, timeout_s=timeout_s)
        for name in SHOWN:
            query = named_query(name)
            names, rows = client.query_columns(query.sql(db))
            caption = query.description
            if not rows:
                caption += " (No rows: the demo's stand-in for inference finds no objects.)"
            table = Table(*names, title=f"vigil sql --query {name}", caption=caption)
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
