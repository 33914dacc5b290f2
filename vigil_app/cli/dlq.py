"""``vigil dlq list|show|replay``: the dead-letter queue (vigil/dlq_tools.py) from the command
line: counts per reason and component, one record whole, and re-driving records once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.markup import escape
from rich.table import Table

from vigil import kafka
from vigil.dlq_tools import DlqError, Entry, read_dlq, replay
from vigil.timeparse import parse_time
from vigil.topics import prepare_topics
from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="The dead-letter queue: list, show, replay.")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _since(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        fail(escape(str(exc)))


def _ready(ctx: typer.Context) -> None:
    settings = settings_of(ctx)
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)


Since = Annotated[str | None, typer.Option(help="Failed at or after: ISO 8601, epoch ms, or -2h.")]


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    since: Since = None,
    component: Annotated[str | None, typer.Option(help="Only this component.")] = None,
) -> None:
    """Dead letters per reason, component and source topic (replayed ones counted apart)."""
    _ready(ctx)
    dlq = read_dlq(settings_of(ctx))
    chosen = dlq.select(reason, _since(since), component)
    groups: dict[tuple[str, str, str], list[Entry]] = {}
    for e in chosen:
        groups.setdefault(
            (e.reason, e.envelope["component"], e.envelope["source_topic"]), []
        ).append(e)
    table = Table("reason", "component", "source topic", "records", "replayed", "first", "last")
    for (why, comp, topic), entries in sorted(groups.items()):
        done = sum(1 for e in entries if e.coordinates in dlq.replayed)
        failed = [e.failed_ms for e in entries]
        table.add_row(
            why, comp, topic, str(len(entries)), str(done), _when(min(failed)), _when(max(failed))
        )
    console.print(table)
    console.print(f"{len(chosen)} of {len(dlq.entries)} dead letters; `vigil dlq show OFFSET`")


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    offset: Annotated[int, typer.Argument(help="The record's offset in the DLQ.")],
    partition: Annotated[int | None, typer.Option(help="Its DLQ partition.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the original value's bytes to this file.")
    ] = None,
) -> None:
    """One dead letter: why, where from, its headers; its original bytes saved with --out."""
    _ready(ctx)
    dlq = read_dlq(settings_of(ctx))
    try:
        e = dlq.find(offset, partition)
    except DlqError as exc:
        fail(escape(str(exc)))
    env = e.envelope
    table = Table("field", "value", title=f"DLQ {e.coordinates}")
    rows = [
        ("reason", e.reason),
        ("component", env["component"]),
        ("error", f"{env['error_class']}: {env['error_message']}"),
        ("source", f"{env['source_topic']} [{env['source_partition']}] @ {env['source_offset']}"),
        ("failed at (UTC)", _when(e.failed_ms)),
        ("key", repr(e.key)),
        ("value", f"{len(e.value or b'')} bytes"),
        ("replayed", "yes" if e.coordinates in dlq.replayed else "no"),
    ]
    rows += [(f"header {k}", v.decode(errors="replace")[:200]) for k, v in e.original_headers()]
    for k, v in rows:
        table.add_row(k, escape(str(v)))
    console.print(table)
    if out is not None:
        out.write_bytes(e.value or b"")
        console.print(f"original value ({len(e.value or b'')} bytes) -> {out}")


@app.command("replay")
def replay_cmd(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="The reason to re-drive (vigil dlq list).")],
    since: Since = None,
    to: Annotated[
        str | None, typer.Option(help="Produce here instead of each record's source topic.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what, do nothing.")] = False,
) -> None:
    """Re-produce the original records of a reason to their source topic (or --to), in
    transactions with a marker each: a record is re-driven once."""
    settings = settings_of(ctx)
    _ready(ctx)
    dlq = read_dlq(settings)
    chosen = dlq.select(reason, _since(since))
    todo = [e for e in chosen if e.coordinates not in dlq.replayed]
    targets = Counter(to or e.envelope["source_topic"] or "(no source: give --to)" for e in todo)
    if dry_run:
        for topic, n in sorted(targets.items()):
            console.print(f"would replay {n} records to {escape(topic)}")
        console.print(f"{len(chosen) - len(todo)} replayed before (skipped)")
        return
    try:
        done = replay(settings, chosen, dlq.replayed, to=to)
    except (DlqError, KafkaException) as exc:
        fail(escape(str(exc)))
    for topic, n in sorted(done.targets.items()):
        console.print(f"[green]replayed[/] {n} records to {escape(topic)}")
    console.print(f"{done.skipped} replayed before (skipped)")
