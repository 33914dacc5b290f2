"""``vigil``: the command line. Each command builds the process's settings once, at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vigil import __version__
from vigil.topics import RetentionError
from vigil_app.cli import alerts as alerts_cmd
from vigil_app.cli import analytics as analytics_cmd
from vigil_app.cli import blobs as blobs_cmd
from vigil_app.cli import config as config_cmd
from vigil_app.cli import dashboard as dashboard_cmd
from vigil_app.cli import dataset as dataset_cmd
from vigil_app.cli import dlq as dlq_cmd
from vigil_app.cli import drift as drift_cmd
from vigil_app.cli import ingest as ingest_cmd
from vigil_app.cli import keys as keys_cmd
from vigil_app.cli import labels as labels_cmd
from vigil_app.cli import models as models_cmd
from vigil_app.cli import registry as registry_cmd
from vigil_app.cli import replay as replay_cmd
from vigil_app.cli import retrain as retrain_cmd
from vigil_app.cli import sample as sample_cmd
from vigil_app.cli import schemas as schemas_cmd
from vigil_app.cli import stack as stack_cmd
from vigil_app.cli import topics as topics_cmd
from vigil_app.cli import worker as worker_cmd
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.demo import run_demo
from vigil_app.settings import ConfigError, load_settings

app = typer.Typer(
    name="vigil",
    help="Vigil: a Kafka-native vision event pipeline.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.add_typer(topics_cmd.app, name="topics")
app.add_typer(blobs_cmd.app, name="blobs")
app.add_typer(schemas_cmd.app, name="schemas")
app.add_typer(config_cmd.app, name="config")
app.add_typer(models_cmd.app, name="models")
registry_cmd.register(models_cmd.app)  # vigil models register|promote|rollback|history|show
app.command("detect")(models_cmd.detect)
ingest_cmd.register(app)
analytics_cmd.register(app)  # vigil sink clickhouse, vigil sql
app.add_typer(drift_cmd.app, name="drift")
app.add_typer(dlq_cmd.app, name="dlq")
worker_cmd.register(app)
alerts_cmd.register(app)
app.add_typer(dashboard_cmd.app, name="dashboard")
app.add_typer(keys_cmd.app, name="keys")
replay_cmd.register(app)  # vigil replay, vigil eval
app.add_typer(dataset_cmd.app, name="dataset")
app.add_typer(sample_cmd.app, name="sample")
app.add_typer(retrain_cmd.app, name="retrain")
app.command("accuracy")(labels_cmd.accuracy)

__all__ = ["app", "console", "main", "settings_of"]


def _version(value: bool) -> None:
    if value:
        Console().print(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="YAML settings file (else $VIGIL_CONFIG).", show_default=False
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    try:
        ctx.obj = load_settings(config)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")


@app.command()
def demo(
    ctx: typer.Context,
    events: Annotated[int, typer.Option(min=1, help="Frames to send through the broker.")] = 300,
    cameras: Annotated[int, typer.Option(min=1, help="Synthetic cameras.")] = 4,
) -> None:
    """Run Vigil's whole flow on the embedded defaults, through a real broker, stage by stage."""

    run_demo(settings_of(ctx), events=events, cameras=cameras, console=console)


def main() -> None:

    try:
        app()
    except RetentionError as exc:  # a component refused its topics: say why, no traceback
        console.print(f"[bold red]error:[/] {exc}")
        raise SystemExit(2) from None
