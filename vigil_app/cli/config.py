"""``vigil config show``."""

from __future__ import annotations

import typer
import yaml

from vigil.redact import masked
from vigil_app.cli.common import console, settings_of

app = typer.Typer(help="The effective settings.")


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the effective settings as YAML (secrets masked: keys, passwords in URLs,
    credential options of kafka.client_options)."""
    data = masked(settings_of(ctx).model_dump(mode="json"))
    console.print(yaml.safe_dump(data, sort_keys=False), end="", markup=False, highlight=False)
