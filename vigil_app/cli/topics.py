"""``vigil topics ensure | list``."""

from __future__ import annotations

import typer
from confluent_kafka import KafkaException
from rich.table import Table

from vigil import kafka
from vigil.topics import changelog_specs, ensure_topics, topic_specs
from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="Vigil's Kafka topics.")


@app.command()
def ensure(ctx: typer.Context) -> None:
    """Create missing topics, grow partitions and fix configs (idempotent): retention of the
    personal topics, the compaction bound of vigil.poi and of the stream apps' changelogs."""
    settings = settings_of(ctx)
    try:
        kafka.wait_until_ready(settings, timeout_s=15)
        admin = kafka.admin(settings)
        results = ensure_topics(admin, topic_specs(settings.topics))
        results += ensure_topics(admin, changelog_specs(admin, settings.topics))
    except (KafkaException, TimeoutError) as exc:
        fail(str(exc), code=1)
    table = Table(title="topics")
    for col in ("topic", "partitions", "action", "changes"):
        table.add_column(col)
    for r in results:
        table.add_row(r.name, str(r.partitions), r.action.value, ", ".join(r.changes))
    console.print(table)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Topics on the cluster with their partition counts."""
    settings = settings_of(ctx)
    try:
        md = kafka.admin(settings).list_topics(timeout=10)
    except KafkaException as exc:
        fail(str(exc), code=1)
    for name in sorted(md.topics):
        if not name.startswith("__"):
            console.print(f"{name}\t{len(md.topics[name].partitions)}")
