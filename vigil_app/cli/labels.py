"""``vigil dataset import`` (labels back: COCO or a Label Studio export into ClickHouse) and
``vigil accuracy`` (precision, recall, mAP@0.5 per model version x camera x day, and alerts on
drops). Both run the same check (evaluation/accuracy_check.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.markup import escape

from connectors.sinks.clickhouse.ddl import Cluster
from connectors.sinks.clickhouse.schema import Retention, migrate
from evaluation.accuracy_check import AccuracyCheck, check_accuracy
from evaluation.coco import LabelsError
from evaluation.label_store import DatasetError, dataset_name, store_labels
from evaluation.labels import LabelFormat, read_labels
from vigil.clickhouse import ClickHouseClient, connect
from vigil.notices import AlertNotDelivered
from vigil_app.accuracy_table import print_check
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.settings import VigilSettings


def register(dataset_app: typer.Typer) -> None:
    dataset_app.command("import")(import_labels)


def _open(settings: VigilSettings) -> ClickHouseClient:
    conf = settings.clickhouse_sink
    try:
        client = connect(settings)
        migrate(
            client,
            settings.clickhouse.database,
            Retention(conf.personal_ttl_hours, conf.aggregate_ttl_days),
            Cluster.of(settings.clickhouse),
        )
    except Exception as exc:
        fail(
            f"cannot use ClickHouse ({exc}); with embedded chDB, stop `vigil sink clickhouse` "
            "first (one process per data directory) or use a ClickHouse server",
            1,
        )
    return client


def _check(settings: VigilSettings, client: ClickHouseClient, dataset: str) -> AccuracyCheck:
    try:
        return check_accuracy(settings, client, dataset)
    except (AlertNotDelivered, KafkaException, BufferError) as exc:
        fail(f"accuracy stored, but its alerts were not delivered (a re-run retries): {exc}", 1)


def import_labels(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="COCO JSON, or a Label Studio JSON export.")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: accuracy.dataset).")
    ] = None,
    fmt: Annotated[LabelFormat, typer.Option("--format", help="File format.")] = LabelFormat.auto,
) -> None:
    """Store the labels of FILE as ground truth (a frame labelled again is replaced), then
    score every recorded model on them and alert on accuracy drops."""
    settings = settings_of(ctx)
    try:
        name = dataset_name(dataset or settings.accuracy.dataset)
        labels = read_labels(file, fmt)
    except (LabelsError, DatasetError) as exc:
        fail(f"{exc}; nothing was stored")
    client = _open(settings)
    try:
        done = store_labels(client, settings.clickhouse.database, name, labels)
        console.print(
            f"imported {done.frames} labelled frames ({done.objects} objects, categories "
            f"{', '.join(done.categories) or 'none'}) from {escape(str(file))} "
            f"({done.source_format}) into dataset {name}, import {done.import_id}"
        )
        if done.skipped:
            console.print(f"skipped {done.skipped} tasks without a (non-cancelled) annotation")
        print_check(_check(settings, client, name))
    finally:
        client.close()


def accuracy(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: accuracy.dataset).")
    ] = None,
) -> None:
    """Score every recorded model on the imported labels (per model version x camera x day),
    store it in ClickHouse (named query accuracy_over_time) and alert on drops."""
    settings = settings_of(ctx)
    try:
        name = dataset_name(dataset or settings.accuracy.dataset)
    except DatasetError as exc:
        fail(str(exc))
    client = _open(settings)
    try:
        print_check(_check(settings, client, name))
    finally:
        client.close()
