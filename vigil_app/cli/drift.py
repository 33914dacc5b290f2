"""``vigil drift``: run the drift-statistics stream; ``vigil drift baseline``: pin or show the
reference a camera's windows are compared with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="Drift statistics per camera and model version.")


@app.callback(invoke_without_command=True)
def drift(ctx: typer.Context) -> None:
    """Run the drift app (Quix Streams, exactly-once) over the detections topic until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.drift.app import run
    from vigil.settings import ConfigError

    try:
        run(settings_of(ctx))
    except ConfigError as exc:
        fail(f"configuration error: {exc}")


def parse_time(text: str) -> int:
    """Epoch milliseconds, or an ISO-8601 time (UTC when it names no zone)."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is neither epoch milliseconds nor an ISO-8601 time")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@app.command()
def baseline(
    ctx: typer.Context,
    camera: Annotated[str | None, typer.Option(help="Camera id.")] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (epoch ms or ISO-8601, inclusive).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="End (epoch ms or ISO-8601, exclusive).")] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Only this model version (default: each one seen).")
    ] = None,
    show: Annotated[bool, typer.Option("--show", help="Print the stored baselines.")] = False,
) -> None:
    """Pin a baseline from the detections of CAMERA captured in [FROM, TO), or --show them."""
    from streams.drift.baseline import BaselineStore, compute, describe

    settings = settings_of(ctx)
    store = BaselineStore.of(settings)
    if show:
        table = Table(title=f"Drift baselines in {store.folder}")
        for col in ("camera", "model version", "source", "from", "to", "frames", "detections"):
            table.add_column(col)
        table.add_column("top labels")
        table.add_column("brightness / sharpness (median)")
        for b in store.all():
            if camera is not None and b.camera_id != camera:
                continue
            d = describe(b.summary)
            table.add_row(
                b.camera_id,
                b.model_version,
                b.source,
                _ms(b.from_ms),
                _ms(b.to_ms),
                str(d["frames"]),
                str(d["detections"]),
                d["top_labels"],
                f"{d['brightness_median'] or 0:.3f} / {d['sharpness_median'] or 0:.1f}",
            )
        console.print(table)
        return
    if camera is None or from_ is None or to is None:
        fail("give --camera, --from and --to (or --show)")
    start, end = parse_time(from_), parse_time(to)
    if end <= start:
        fail("--to must be after --from")
    baselines = compute(settings, camera, start, end, model_version)
    if not baselines:
        fail(f"no detections of camera {camera!r} captured in [{_ms(start)}, {_ms(end)})", 1)
    for b in baselines:
        path = store.save(b)
        console.print(
            f"pinned {b.camera_id} / {b.model_version}: {b.summary['frames']} frames, "
            f"{b.summary['detections']} detections -> {path}"
        )
