"""``vigil blobs gc``: delete claim-check images past their retention, and orphans."""

from __future__ import annotations

from typing import Annotated

import typer
from confluent_kafka import KafkaException

from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="The claim-check blob store (images over the inline limit).")


@app.command()
def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Also delete blobs (older than 10 min) that no FrameEvent on vigil.frames "
            "refers to; reads the whole topic.",
        ),
    ] = False,
) -> None:
    """Delete blobs older than ingest.blob_retention_hours (and, with --orphans, blobs no
    event refers to). `vigil api` runs the age GC every ingest.blob_gc_interval_s."""
    from connectors.blobstore import collect_garbage, default_store
    from vigil import kafka

    settings = settings_of(ctx)
    try:
        if orphans:
            kafka.wait_until_ready(settings, timeout_s=15)
        report = collect_garbage(settings, orphans=orphans, dry_run=dry_run)
    except (KafkaException, TimeoutError, OSError) as exc:
        fail(str(exc), code=1)
    console.print(f"{default_store(settings).root}: {report.summary()}")
