"""``vigil dataset``: the frames chosen for labelling (``vigil sample``), exported for CVAT and
Label Studio, and their labels brought back."""

from __future__ import annotations

import typer

from vigil_app.cli import labels

app = typer.Typer(help="Datasets for labelling: export samples, import labels.")
labels.register(app)  # vigil dataset import
