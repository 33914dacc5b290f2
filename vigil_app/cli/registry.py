"""``vigil models register|promote|rollback|history|show``: the model registry on vigil.models
(vigil/registry.py) from the command line. Exit codes: 2 a bad request (unknown model, nothing
to roll back, a model that cannot be registered), 4 the promotion gate refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.markup import escape
from rich.table import Table

from evaluation.promotion import PromotionRefused, promote, recorded, rollback
from gpu_workers.models.files import ModelNotPrepared
from gpu_workers.models.spec import SpecError
from gpu_workers.models.store import RegistrationError, configured, register_model
from schemas.types import ModelRecord
from vigil import kafka, registry
from vigil.errors import VigilError
from vigil.registry import ROLES
from vigil.topics import prepare_topics
from vigil_app.cli.common import console, fail, settings_of

GATE_REFUSED = 4


def register(app: typer.Typer) -> None:
    app.command("register")(register_cmd)
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("history")(history_cmd)
    app.command("show")(show_cmd)


def _ready(ctx: typer.Context) -> None:
    settings = settings_of(ctx)
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)


def _when(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def register_cmd(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(help="Spec YAML; its `file` is the ONNX beside it.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the record).")] = "",
) -> None:
    """Check a model (spec, ONNX, one image through it), copy it into the model store with
    its sha256 and announce it on vigil.models. A registered version never changes."""
    settings = settings_of(ctx)
    _ready(ctx)
    try:
        record, new = register_model(settings, spec, reason=reason)
    except (RegistrationError, KafkaException) as exc:
        fail(escape(str(exc)))
    state = "registered" if new else "already registered (same file)"
    console.print(
        f"[green]{state}[/] {registry.label(record)} ({record['family']}, sha256 "
        f"{record['sha256'][:12]}, {record['size_bytes'] / 2**20:.1f} MiB) at "
        f"{escape(record['location'])}",
        soft_wrap=True,
    )


def _name_version(model: str) -> tuple[str, str]:
    name, _, version = model.partition("@")
    if not name or not version:
        fail(f"give the model as NAME@VERSION, not {model!r}")
    return name, version


def promote_cmd(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="NAME@VERSION, registered.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "detector",
    report: Annotated[
        Path | None,
        typer.Option(help="The eval report.json (default: the newest matching one)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote past a failed or missing gate (audited).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the record).")] = "",
) -> None:
    """Make a registered model production of a role, if its eval report against the current
    production model passes the gate (the ``promotion`` settings); workers hot-swap to it."""
    settings = settings_of(ctx)
    name, version = _name_version(model)
    _ready(ctx)
    try:
        record, gate = promote(
            settings, name, version, role, report=report, force=force, reason=reason
        )
    except PromotionRefused as exc:
        fail(escape(str(exc)), code=GATE_REFUSED)
    except (VigilError, KafkaException) as exc:
        fail(escape(str(exc)))
    if gate.passed:
        console.print(f"gate passed on {escape(str(gate.report))}", soft_wrap=True)
    else:
        console.print(
            "[bold yellow]forced past the gate:[/] " + escape("; ".join(gate.failures)),
            soft_wrap=True,
        )
    console.print(
        f"[green]promoted[/] {registry.label(record)} to {role} (replaces {record['replaces']})"
    )


def rollback_cmd(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "detector",
    reason: Annotated[str, typer.Option(help="Why (kept in the record).")] = "",
) -> None:
    """Undo the last promotion of a role: the model before it is production again."""
    settings = settings_of(ctx)
    _ready(ctx)
    try:
        record = rollback(settings, role, reason=reason)
    except (VigilError, KafkaException) as exc:
        fail(escape(str(exc)))
    console.print(
        f"[green]rolled back[/] {record['replaces']}: {role} runs {registry.label(record)} again"
    )


def history_cmd(
    ctx: typer.Context,
    role: Annotated[str | None, typer.Option(help="One role (default: all).")] = None,
    events: Annotated[
        bool, typer.Option("--events", help="Also the workers' switches and refusals.")
    ] = False,
) -> None:
    """Every registration, promotion and rollback, oldest first, with who and why."""
    settings = settings_of(ctx)
    _ready(ctx)
    reg = registry.read_registry(settings)
    rows: list[ModelRecord] = list(reg.models.values())
    for each_role, entries in reg.history.items():
        if role is None or each_role == role:
            rows.extend(entries)
    if events:
        rows.extend(e for e in reg.events if role is None or e["role"] == role)
    table = Table(
        "when (UTC)", "action", "role", "model", "by", "gate", "why", title="vigil.models"
    )
    for r in sorted(rows, key=lambda e: e["ts_ms"]):
        ev = r["eval"]
        gate = "-" if ev is None else ("passed" if ev["passed"] else "failed")
        if r["forced"]:
            gate += " (forced)"
        table.add_row(
            _when(r["ts_ms"]),
            r["action"],
            r["role"] or "-",
            registry.label(r),
            r["actor"],
            gate,
            r["reason"] or "-",
        )
    console.print(table)


def show_cmd(ctx: typer.Context) -> None:
    """Production per role (and where it comes from), then the registered models."""
    settings = settings_of(ctx)
    _ready(ctx)
    reg = registry.read_registry(settings)
    table = Table("role", "production", "model_version", "since", "by", title="production")
    for role in ROLES:
        current = reg.current(role)
        if current is None:
            try:
                shown = recorded(configured(settings, getattr(settings.models, role)))
            except (ModelNotPrepared, SpecError) as exc:
                shown = f"(not prepared: {exc})"
            table.add_row(role, "(settings) " + escape(shown), "-", "-", "-")
        else:
            table.add_row(
                role,
                registry.label(current),
                current["model_version"],
                _when(current["ts_ms"]),
                current["actor"],
            )
    console.print(table)
    models = Table("model", "family", "sha256", "registered", "location", title="registered")
    for r in sorted(reg.models.values(), key=lambda e: e["ts_ms"]):
        models.add_row(
            registry.label(r), r["family"], r["sha256"][:12], _when(r["ts_ms"]), r["location"]
        )
    console.print(models)
