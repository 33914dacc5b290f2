"""``vigil retrain run|watch|status``: the retraining loop (lifecycle/retrain.py) from the
command line. ``run`` exits 0 when the turn ran to its end (promoted, or a candidate left
registered) or was not due, 1 when it failed (the alert says why), 2 when retraining is off."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from confluent_kafka import KafkaException
from rich.markup import escape
from rich.table import Table

from evaluation.promotion import production_of, recorded
from lifecycle.retrain import Outcome, run_once
from lifecycle.triggers import State, check_triggers, state_file
from vigil import kafka, registry
from vigil.clickhouse import connect
from vigil.errors import VigilError
from vigil.logs import setup_logging
from vigil.topics import prepare_topics
from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="Retraining: triggers -> training command -> candidate -> gate.")

COLOUR = {"promoted": "green", "candidate": "yellow", "failed": "red"}


def _show(outcome: Outcome) -> None:
    colour = COLOUR.get(outcome.status, "white")
    console.print(f"[bold {colour}]{outcome.status}[/] ({outcome.run}): {escape(outcome.message)}")
    if outcome.report is not None:
        console.print(f"eval report: {outcome.report}", soft_wrap=True)


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Run now, whatever the triggers say.")
    ] = False,
) -> None:
    """One turn of the loop, if a trigger fired (or --force)."""
    settings = settings_of(ctx)
    setup_logging(settings, "retrain")
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    try:
        outcome = run_once(settings, force=force, say=lambda t: console.print(f"- {t}"))
    except (VigilError, KafkaException) as exc:
        fail(escape(str(exc)))
    _show(outcome)
    if outcome.status == "off":
        raise typer.Exit(2)
    if outcome.status == "failed":
        raise typer.Exit(1)


@app.command("watch")
def watch_cmd(ctx: typer.Context) -> None:
    """Check the triggers every retrain.check_interval_s and run a turn when one fires, until
    SIGTERM/SIGINT."""
    settings = settings_of(ctx)
    if not settings.retrain.command:
        fail("retrain.command is not set: retraining is off")
    setup_logging(settings, "retrain")
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.is_set():
        try:
            outcome = run_once(settings)
        except (VigilError, KafkaException) as exc:  # the next check tries again
            console.print(f"[red]retrain check failed:[/] {escape(str(exc))}")
        else:
            if outcome.status != "not_due":
                _show(outcome)
        stop.wait(settings.retrain.check_interval_s)


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """What each trigger reads now, and the last run."""
    settings = settings_of(ctx)
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    cfg = settings.retrain
    production = production_of(settings, registry.read_registry(settings), cfg.role)
    state = State.load(state_file(settings))
    client = connect(settings)
    try:
        due = check_triggers(settings, client, production, state)
    finally:
        client.close()
    trig = cfg.triggers
    table = Table("trigger", "now", "fires at", title=f"retraining {recorded(production)}")
    table.add_row("drift alarms", str(due.drift_alarms), _at(trig.drift_alarms, ">="))
    table.add_row(
        "mAP@0.5", "-" if due.map50 is None else f"{due.map50:.3f}", _at(trig.accuracy_below, "<")
    )
    table.add_row("frames labelled", str(due.new_labels), _at(trig.new_labels, ">="))
    console.print(table)
    console.print(f"command: {escape(cfg.command or '(not set: retraining is off)')}")
    last = f"{state.last_run} ({state.outcome})" if state.last_run else "never"
    console.print(f"last run: {last}; due now: {'yes' if due.due else 'no'}")
    if due.wait_s > 0:
        console.print(f"next run allowed in {due.wait_s / 3600:.1f} h (min_interval_h)")


def _at(value: float | None, op: str) -> str:
    return "off" if value is None else f"{op} {value:g}"
