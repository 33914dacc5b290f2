"""``vigil schemas list``."""

from __future__ import annotations

import typer
from rich.table import Table

from schemas.contracts import TOPIC_SCHEMAS, default_store
from vigil_app.cli.common import console, settings_of

app = typer.Typer(help="The Avro contracts of every topic.")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Each schema with its topic and fingerprint (the single-object encoding header)."""
    topics = settings_of(ctx).topics
    by_schema = {name: role.name_in(topics) for role, name in TOPIC_SCHEMAS.items()}
    store = default_store()
    table = Table(title="schemas")
    for col in ("schema", "topic", "CRC-64-AVRO fingerprint"):
        table.add_column(col)
    for name in store.names():
        table.add_row(name, by_schema.get(name, "-"), store.current(name).fingerprint.hex())
    console.print(table)
