"""``vigil stack up | down | status``: the local Kafka broker and ClickHouse server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vigil.stack import Stack, StackError, find_server_binary
from vigil_app.cli.common import console, fail, mib, settings_of

app = typer.Typer(help="Run the local stack: Apache Kafka (KRaft) and optionally ClickHouse.")


@app.command()
def up(
    ctx: typer.Context,
    fresh: Annotated[bool, typer.Option(help="Wipe the stack's data first.")] = False,
    clickhouse_server: Annotated[
        bool, typer.Option("--clickhouse-server", help="Also run a ClickHouse server.")
    ] = False,
    brokers: Annotated[
        int | None,
        typer.Option(
            min=1, max=5, help="Kafka nodes (default stack.kafka_brokers); 3: replicated."
        ),
    ] = None,
) -> None:
    """Start what is not running yet; running servers are left alone."""
    settings = settings_of(ctx)
    stack = Stack.from_settings(settings, brokers)
    try:
        with console.status("Starting Apache Kafka (first run fetches its jars with Maven)..."):
            started = stack.kafka.start(fresh=fresh, timeout_s=settings.stack.start_timeout_s)
        console.print(
            f"kafka: {'started' if started else 'already running'} at {stack.kafka.bootstrap}"
        )
        if clickhouse_server:
            if find_server_binary() is None:
                fail("no ClickHouse server binary; apt-get install clickhouse-server")
            with console.status("Starting ClickHouse server..."):
                started = stack.clickhouse.start(
                    fresh=fresh, timeout_s=settings.stack.start_timeout_s
                )
            state = "started" if started else "already running"
            console.print(f"clickhouse: {state} at {stack.clickhouse.url}")
        else:
            console.print(f"clickhouse: embedded chDB at {settings.data_dir / 'chdb'}")
    except (StackError, TimeoutError, RuntimeError) as exc:
        fail(str(exc), code=1)


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the stack's servers, the cluster's nodes too (SIGTERM, clean shutdown); data is
    kept."""
    settings = settings_of(ctx)
    stopped = []
    for count in (1, 3):  # whichever was started
        stopped += Stack.from_settings(settings, count).down(settings.stack.stop_timeout_s)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(ctx: typer.Context) -> None:
    """What runs, where, its start-up time and resident memory (every node of a cluster)."""
    settings = settings_of(ctx)
    stack = Stack.from_settings(settings)
    cluster = Stack.from_settings(settings, 3)
    if not stack.kafka.status().running and any(s.running for s in cluster.statuses()):
        stack = cluster  # a cluster was started with --brokers 3
    table = Table(title="Vigil local stack")
    for col in ("server", "state", "pid", "address", "startup", "RSS"):
        table.add_column(col)
    for st in stack.statuses():
        table.add_row(
            st.name,
            "[green]running[/]" if st.running else "[red]stopped[/]",
            str(st.pid or "-"),
            st.address,
            "-" if st.startup_s is None else f"{st.startup_s:.2f} s",
            mib(st.rss_bytes),
        )
    console.print(table)
    for st in stack.statuses():
        console.print(f"{st.name} log: {st.log_file}", highlight=False)
    if not stack.kafka.status().running:
        raise typer.Exit(3)
