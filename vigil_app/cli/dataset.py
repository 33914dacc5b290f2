"""``vigil dataset``: the frames chosen for labelling (``vigil sample``), exported for CVAT and
Label Studio, and their labels brought back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connectors.sinks.dataset.copier import store_of
from connectors.sinks.dataset.export import (
    CONFIG_FILE,
    LOCAL_FILES,
    TASKS_FILE,
    ExportError,
    Format,
    export,
)
from vigil_app.cli import labels
from vigil_app.cli.common import console, fail, settings_of

app = typer.Typer(help="Datasets for labelling: export samples, import labels.")
labels.register(app)  # vigil dataset import


@app.command("export")
def export_(
    ctx: typer.Context,
    format_: Annotated[
        str, typer.Option("--format", help="coco (CVAT's COCO 1.0) or labelstudio.")
    ] = "coco",
    dataset: Annotated[str | None, typer.Option(help="Dataset (default dataset.name).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default <dataset>/export-<format>).")
    ] = None,
    document_root: Annotated[
        Path | None,
        typer.Option(
            help="labelstudio: Label Studio's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT (default: "
            "the output folder's parent); image URLs are /data/local-files/?d=<path under it>."
        ),
    ] = None,
    url_prefix: Annotated[
        str, typer.Option(help="labelstudio: what precedes an image's path in its URL.")
    ] = LOCAL_FILES,
) -> None:
    """Write the dataset's copied samples, with the model's detections as pre-annotations, in
    a format CVAT or Label Studio imports."""
    if format_ not in ("coco", "labelstudio"):
        fail(f"--format is coco or labelstudio, not {format_!r}")
    fmt: Format = "coco" if format_ == "coco" else "labelstudio"
    store = store_of(settings_of(ctx), dataset)
    target = out or store.folder / f"export-{fmt}"
    try:
        done = export(store, fmt, target, document_root=document_root, url_prefix=url_prefix)
    except ExportError as exc:
        fail(str(exc))
    console.print(
        f"{done.images} images, {done.annotations} pre-annotations -> {done.out} "
        f"({', '.join(str(p.relative_to(done.out)) for p in done.files)})"
    )
    if fmt == "labelstudio":
        root = (document_root or target.parent).resolve()
        console.print(
            "Label Studio: start it with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and "
            f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={root}, add a Local storage for "
            f"{(target / 'images').resolve()} (no sync needed), paste {CONFIG_FILE} as the "
            f"labelling config, and import {TASKS_FILE}."
        )
