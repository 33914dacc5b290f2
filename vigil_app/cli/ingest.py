"""``vigil ingest``, ``vigil cameras status`` and ``vigil api``: the ingest edge of Vigil.

A running ``vigil ingest`` rewrites ``<data_dir>/ingest/status.json`` atomically every second;
``vigil cameras status`` reads it (no server to reach, works for any user who can read the data
directory) and says when it is stale."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from vigil_app.cli.common import console, fail, settings_of
from vigil_app.settings import VigilSettings

cameras_app = typer.Typer(help="Cameras of a running `vigil ingest`.", no_args_is_help=True)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def ingest(
    ctx: typer.Context,
    cameras: Annotated[
        Path, typer.Option("--cameras", help="Cameras YAML; re-read every second while running.")
    ],
) -> None:
    """Ingest every camera of the YAML file into the frames topic until SIGTERM/Ctrl-C."""
    from connectors.sources.config import load_cameras
    from connectors.sources.supervisor import Supervisor
    from vigil import kafka
    from vigil.logs import setup_logging
    from vigil.metrics import serve_metrics
    from vigil.settings import ConfigError
    from vigil.topics import prepare_topics

    settings = settings_of(ctx)
    try:
        load_cameras(cameras)  # refuse a bad file at start; later edits are checked on reload
    except ConfigError as exc:
        fail(str(exc))
    setup_logging(settings, "ingest")
    serve_metrics(settings.metrics_port, "ingest")
    try:
        kafka.wait_until_ready(settings)
    except TimeoutError as exc:
        fail(str(exc))
    prepare_topics(kafka.admin(settings), settings.topics)
    stop = _stop_on_signals()
    Supervisor(settings, cameras).run(stop)


def status(
    ctx: typer.Context,
    stale_after_s: Annotated[float, typer.Option(help="Older status means ingest is down.")] = 10,
) -> None:
    """The state of every camera of the running ingest (from its status file)."""
    from vigil.cameras import read_status, status_path

    settings = settings_of(ctx)
    data = read_status(settings)
    if data is None:
        fail(f"no status at {status_path(settings)}: is `vigil ingest` running?", code=1)
    age_s = time.time() - data["updated_ts_ms"] / 1000
    table = Table(title=f"cameras ({data['cameras_file']})")
    for col in ("camera", "kind", "state", "captured", "dropped", "reconnects", "restarts"):
        table.add_column(col)
    table.add_column("last frame")
    table.add_column("last error")
    for cam in data["cameras"]:
        age = cam["last_frame_age_s"]
        table.add_row(
            cam["id"],
            cam["kind"],
            cam["state"],
            str(cam["frames_captured"]),
            str(cam["frames_dropped"]),
            str(cam["reconnects"]),
            str(cam["restarts"]),
            "-" if age is None else f"{age:.1f} s ago",
            cam["last_error"] or "",
        )
    console.print(table)
    if data.get("config_error"):
        console.print(f"[yellow]cameras file not applied:[/] {data['config_error']}")
    if age_s > stale_after_s or not _alive(int(data["pid"])):
        console.print(f"[yellow]status is {age_s:.0f} s old: ingest (pid {data['pid']}) is down[/]")
        raise typer.Exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: ingest.api_host.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: ingest.api_port.")] = None,
) -> None:
    """Serve the upload API (POST /v1/frames, /v1/poi, GET /v1/health, /docs) and the
    dashboard (/dashboard/)."""
    import uvicorn

    from vigil.logs import setup_logging
    from vigil.metrics import serve_metrics
    from vigil_app.api import create_app

    settings = settings_of(ctx)
    if not any(settings.access.keys_by_role().values()):
        fail(
            "no API keys: set access.ingest_keys, viewer_keys, poi_keys or admin_keys "
            "(e.g. VIGIL_ACCESS__INGEST_KEYS='[\"a-long-key\"]')"
        )
    setup_logging(settings, "api")
    _check_topics(settings)
    # protected: /metrics is on the API's own port behind a key, and metrics_port stays shut
    serve_metrics(None if settings.access.protect_metrics else settings.metrics_port, "api")
    uvicorn.run(
        create_app(settings),
        host=host or settings.ingest.api_host,
        port=settings.ingest.api_port if port is None else port,
        log_config=None,
    )


def _check_topics(settings: VigilSettings) -> None:
    """Refuse to serve uploads into topics that keep them longer than configured; a broker that
    is down is no reason to refuse (the API answers 503 and /v1/health says degraded)."""
    import logging

    from confluent_kafka import KafkaException

    from vigil import kafka
    from vigil.topics import RetentionError, prepare_topics

    try:
        kafka.wait_until_ready(settings, timeout_s=10)
        prepare_topics(kafka.admin(settings), settings.topics)
    except RetentionError as exc:
        fail(str(exc))
    except (KafkaException, TimeoutError) as exc:
        logging.getLogger(__name__).warning("topics not checked, Kafka is unreachable: %s", exc)


cameras_app.command("status")(status)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(api)
    app.add_typer(cameras_app, name="cameras")
