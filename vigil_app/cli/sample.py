"""``vigil sample``: choose frames worth labelling and copy them into the dataset store;
``vigil sample status``: what the store holds."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer
from rich.table import Table

from connectors.sinks.dataset.copier import store_of
from connectors.sinks.dataset.store import COPIED
from vigil.settings import ConfigError
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.sampling import Only, run_sampling

app = typer.Typer(help="Active learning: frames worth labelling, copied into a dataset.")


@app.callback(invoke_without_command=True)
def sample(
    ctx: typer.Context,
    only: Annotated[
        str | None,
        typer.Option(help="Run only 'app' (choose samples) or 'copier' (copy them)."),
    ] = None,
) -> None:
    """Run the sampling app (Quix Streams, exactly-once) over the detections and the copier of
    the chosen frames into the dataset store, until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    if only not in (None, "app", "copier"):
        fail(f"--only is 'app' or 'copier', not {only!r}")
    chosen: Only | None = "app" if only == "app" else "copier" if only == "copier" else None
    try:
        run_sampling(settings_of(ctx), only=chosen)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")


@app.command()
def status(
    ctx: typer.Context,
    dataset: Annotated[str | None, typer.Option(help="Dataset (default dataset.name).")] = None,
) -> None:
    """Samples in the dataset store: copied and missed, per reason."""
    store = store_of(settings_of(ctx), dataset)
    reasons: Counter[str] = Counter()
    states: Counter[str] = Counter()
    privacy: Counter[str] = Counter()
    for rec in store.records():
        status = rec.get("status", "?")
        states[status if status == COPIED else f"missed ({rec.get('missed_reason')})"] += 1
        if status == COPIED:
            privacy[str(rec.get("privacy"))] += 1
        for r in rec.get("reasons", []):
            reasons[r["kind"]] += 1
    table = Table(title=f"Dataset {store.folder}")
    table.add_column("what")
    table.add_column("samples", justify="right")
    for counter in (states, reasons, privacy):
        for key, n in sorted(counter.items()):
            table.add_row(key, str(n))
    console.print(table)
