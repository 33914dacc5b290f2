"""``vigil alerts`` (the alerting stream), ``vigil deliver`` (alert delivery on its own) and
``vigil poi enroll|remove|erase|list`` (the watch-list, and erasing a person)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from vigil_app.cli.common import console, fail, settings_of

if TYPE_CHECKING:
    from streams.alerting.rules import RulesFile

poi_app = typer.Typer(help="Persons of interest on the vigil.poi watch-list.", no_args_is_help=True)


def alerts(
    ctx: typer.Context,
    rules: Annotated[
        Path, typer.Option("--rules", help="Rules YAML; re-read when it changes while running.")
    ],
    loglevel: Annotated[str, typer.Option(help="Quix Streams log level")] = "warning",
) -> None:
    """Run the alerting stream: vigil.detections -> rules, tracks, POI -> vigil.alerts."""
    from streams.alerting.runner import run_alerting

    settings = settings_of(ctx)
    active = _rules_file(rules)
    try:
        run_alerting(settings, active, loglevel=loglevel)
    except TimeoutError as exc:
        fail(str(exc), code=1)


def deliver(
    ctx: typer.Context,
    rules: Annotated[
        Path,
        typer.Option("--rules", help="Rules YAML (its destinations); re-read when it changes."),
    ],
) -> None:
    """Run only the delivery: vigil.alerts -> log, webhooks (or vigil.dlq), until SIGTERM."""
    import signal
    import threading
    from typing import Any

    from streams.alerting.delivery.process import run_delivery

    settings = settings_of(ctx)
    active = _rules_file(rules)
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        run_delivery(settings, active, stop)
    except TimeoutError as exc:
        fail(str(exc), code=1)


def _rules_file(path: Path) -> RulesFile:
    """The rules file; a bad one at start is refused (exit 2), naming the field."""
    from streams.alerting.rules import RulesFile
    from vigil.settings import ConfigError

    try:
        return RulesFile(path)
    except ConfigError as exc:
        fail(str(exc))


@poi_app.command("enroll")
def enroll(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Option("--id", help="Person id (the topic key).")],
    image: Annotated[list[Path], typer.Option("--image", help="Face image; repeatable.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Per-person similarity threshold override.")
    ] = None,
) -> None:
    """Enrol a person: exactly one good face per image, else nothing is published."""
    import re

    from gpu_workers.faces import CascadeFaces
    from vigil.faces import EnrollmentError
    from vigil.poi import PERSON_ID, publish_enrollment

    settings = settings_of(ctx)
    if not re.match(PERSON_ID, person_id):
        fail(f"--id {person_id!r}: use 1-128 of A-Z a-z 0-9 . _ : @ -")
    try:
        images = [(str(p), _read(p)) for p in image]
        enrollment = CascadeFaces(settings).enroll(
            person_id, images, display_name=name, match_threshold=threshold
        )
    except EnrollmentError as exc:
        fail(f"not enrolled: {exc}")
    _ensure_poi_topic(settings)
    publish_enrollment(settings, enrollment.record)
    console.print(f"enrolled {person_id} with {enrollment.faces} face(s)")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")


@poi_app.command("remove")
def remove(
    ctx: typer.Context, person_id: Annotated[str, typer.Option("--id", help="Person id.")]
) -> None:
    """Remove a person (a tombstone: matchers forget them at once, compaction erases them)."""
    from vigil.poi import publish_removal

    settings = settings_of(ctx)
    _ensure_poi_topic(settings)
    publish_removal(settings, person_id)
    console.print(f"removed {person_id}")


@poi_app.command("erase")
def erase(
    ctx: typer.Context,
    person_id: Annotated[str, typer.Option("--id", help="Person id.")],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until compaction removed the embedding from vigil.poi (at most "
            "topics.poi_erasure_minutes).",
        ),
    ] = False,
) -> None:
    """Erase a person: the watch-list (tombstone), the POI audit log (a redacted entry stays),
    ClickHouse alerts (POI id cleared); prints what was erased where, and what expires."""
    import re

    from connectors.sinks.clickhouse.erase import erase_poi
    from streams.alerting.app import audit_path
    from streams.alerting.audit import erase_person
    from vigil.clickhouse import connect
    from vigil.poi import PERSON_ID, publish_removal, wait_compacted

    settings = settings_of(ctx)
    if not re.match(PERSON_ID, person_id):
        fail(f"--id {person_id!r}: use 1-128 of A-Z a-z 0-9 . _ : @ -")
    topics = settings.topics
    _ensure_poi_topic(settings)
    publish_removal(settings, person_id)
    bound = f"{topics.poi_erasure_minutes:g} min"
    console.print(
        f"vigil.poi: tombstone written; matchers forget the person now, compaction removes "
        f"the embedding within {bound} (roll markers come from `vigil alerts`)"
    )
    if wait:
        try:
            took = wait_compacted(settings, person_id, topics.poi_erasure_minutes * 60 + 60)
        except TimeoutError as exc:
            fail(str(exc), code=1)
        console.print(f"vigil.poi: embedding compacted away after {took:.0f} s")
    audit = audit_path(settings)
    console.print(f"audit log {audit}: {erase_person(audit, person_id)} entries redacted")
    client = connect(settings)
    db = settings.clickhouse.database
    try:
        rows = erase_poi(client, db, person_id)
    except TimeoutError as exc:
        fail(str(exc), code=1)
    finally:
        client.close()
    where = f"ClickHouse {client.backend} {db}.alerts"
    console.print(f"{where}: " + ("no table" if rows is None else f"{rows} rows cleared"))
    console.print(
        f"vigil.alerts: records naming the person cannot be rewritten; they are deleted with "
        f"the topic's retention ({topics.alerts_retention_hours:g} h, in segments of at most "
        f"{min(topics.alerts_retention_hours, topics.personal_segment_hours):g} h)"
    )
    console.print(
        "alerting state: each camera's state forgets the person at its next event; its "
        f"changelog compacts the old value within {bound}"
    )
    console.print("logs: POI ids are written as pseudonyms only; nothing to erase")


@poi_app.command("list")
def list_(ctx: typer.Context) -> None:
    """The watch-list as the topic holds it now."""
    from vigil.poi import read_watchlist

    settings = settings_of(ctx)
    _ensure_poi_topic(settings)
    records = read_watchlist(settings)
    table = Table(title=f"watch-list ({len(records)})")
    for col in ("id", "name", "faces", "model", "threshold", "enrolled (ms)"):
        table.add_column(col)
    for pid, rec in sorted(records.items()):
        thr = rec.get("match_threshold")
        table.add_row(
            pid,
            rec.get("display_name") or "",
            str(len(rec["embeddings"])),
            rec["embedding_model"],
            "-" if thr is None else f"{thr:.2f}",
            str(rec["enrolled_ts_ms"]),
        )
    console.print(table)


def _ensure_poi_topic(settings: object) -> None:
    from vigil import kafka
    from vigil.topics import ensure_topics, topic_specs
    from vigil_app.settings import VigilSettings

    if not isinstance(settings, VigilSettings):
        raise TypeError("settings")
    try:
        kafka.wait_until_ready(settings, timeout_s=15)
    except TimeoutError as exc:
        fail(str(exc), code=1)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def register(app: typer.Typer) -> None:
    app.command()(alerts)
    app.command()(deliver)
    app.add_typer(poi_app, name="poi")
