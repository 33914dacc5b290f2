"""``vigil sink clickhouse`` (the exactly-once sink, long-running) and ``vigil sql`` (ad-hoc and
named queries against whichever ClickHouse backend is configured)."""

from __future__ import annotations

import csv
import io
import json
import logging
import signal
import threading
import time
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from connectors.sinks.clickhouse.ddl import Cluster
from connectors.sinks.clickhouse.queries import named_queries, named_query
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.sink import ClickHouseSink
from vigil.clickhouse import connect
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.settings import VigilSettings

sink_app = typer.Typer(help="Sinks: take events off Vigil's topics into other systems.")


def register(app: typer.Typer) -> None:
    app.add_typer(sink_app, name="sink")
    app.command("sql")(sql)


def connect_when_ready(settings: VigilSettings, stop: threading.Event) -> Any:
    """Connect and migrate, retrying with backoff while ClickHouse is unreachable."""

    conf = settings.clickhouse_sink
    delay = conf.retry_initial_s
    while True:
        try:
            client = connect(settings)
            caps = migrate(
                client,
                settings.clickhouse.database,
                Retention(conf.personal_ttl_hours, conf.aggregate_ttl_days),
                Cluster.of(settings.clickhouse),
            )
            return client, caps
        except Exception as exc:
            if isinstance(exc, ValueError | ImportError):
                raise
            if stop.is_set():
                return None
            logging.getLogger(__name__).warning(
                "ClickHouse not ready (%r); retrying in %.1fs", exc, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, conf.retry_max_s)


@sink_app.command("clickhouse")
def clickhouse_sink(ctx: typer.Context) -> None:
    """Consume detections, alerts and drift into ClickHouse, exactly once. SIGTERM flushes."""

    settings = settings_of(ctx)
    setup_logging(settings, "clickhouse-sink")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    port = serve_metrics(settings.metrics_port, "clickhouse-sink")
    try:
        ready = connect_when_ready(settings, stop)
    except (ValueError, ImportError) as exc:
        fail(f"cannot use ClickHouse: {exc}")
    if ready is None:
        console.print("sink: stopped before ClickHouse was reachable")
        return
    client, caps = ready
    backend = f"{client.backend} {caps.version}"
    console.print(f"sink: ClickHouse {backend}, database {settings.clickhouse.database}", end="")
    console.print(f", metrics on :{port}" if port else "")
    try:
        sink = ClickHouseSink(settings, client)
        sink.adopt(caps)
        stats = sink.run(stop)
    except RuntimeError as exc:
        fail(str(exc))
    finally:
        client.close()
    console.print_json(json.dumps(stats.__dict__))


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def sql(
    ctx: typer.Context,
    statement: Annotated[str | None, typer.Argument(help="A SQL statement.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Run a named query instead.")
    ] = None,
    list_queries: Annotated[bool, typer.Option("--list", help="List the named queries.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Query ClickHouse (chDB, or the server at clickhouse.url); ``{db}`` means the database."""

    settings = settings_of(ctx)
    if list_queries:
        for q in named_queries().values():
            console.print(f"[bold]{q.name}[/]: {q.description}")
        return
    if (statement is None) == (query is None):
        fail("give either a SQL statement or --query NAME (see --list)")
    db = settings.clickhouse.database
    try:
        text = named_query(query).sql(db) if query else (statement or "").replace("{db}", db)
    except KeyError as exc:
        fail(str(exc.args[0]))
    client = connect(settings)
    try:
        names, rows = client.query_columns(text)
    except Exception as exc:
        fail(f"query failed: {exc}", 1)
    finally:
        client.close()
    print_rows(names, rows, fmt)


def print_rows(names: list[str], rows: list[tuple[Any, ...]], fmt: Format, title: str = "") -> None:
    if fmt is Format.json:
        typer.echo(json.dumps([dict(zip(names, r, strict=True)) for r in rows], default=str))
    elif fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(names)
        writer.writerows(rows)
        typer.echo(out.getvalue(), nl=False)
    else:
        table = Table(*names, title=title or None)
        for row in rows:
            table.add_row(*(str(v) for v in row))
        console.print(table)
