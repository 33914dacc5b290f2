"""The accuracy of every model on a labels dataset as a table on the console (``vigil dataset
import``, ``vigil accuracy`` and the demo print it), with the alerts raised."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from evaluation.accuracy import latest_days
from evaluation.accuracy_check import AccuracyCheck
from vigil_app.console import console

SHOWN_UNRECORDED = 5


def print_check(check: AccuracyCheck) -> None:
    run = check.run
    if run.unrecorded:
        some = ", ".join(run.unrecorded[:SHOWN_UNRECORDED])
        more = len(run.unrecorded) - SHOWN_UNRECORDED
        console.print(
            f"{len(run.unrecorded)} of {run.labelled} labelled frames have no records in "
            f"ClickHouse (yet): {escape(some)}" + (f" and {more} more" if more > 0 else "")
        )
    rows = latest_days(run.rows)
    if not rows:
        console.print(f"dataset {run.dataset}: no model has recorded a labelled frame")
        return
    table = Table(
        "model", "topic", "camera", "day", "frames", "objects", "precision", "recall", "mAP@0.5",
        title=f"accuracy on dataset {run.dataset} (latest day per model, topic and camera)",
    )  # fmt: skip
    for r in rows:
        table.add_row(
            escape(r.model), escape(r.kafka_topic), escape(r.camera_id), r.day.isoformat(),
            str(r.frames), str(r.objects), f"{r.precision:.3f}", f"{r.recall:.3f}",
            "-" if r.map50 is None else f"{r.map50:.3f}",
        )  # fmt: skip
    console.print(table)
    for b in check.breaches:
        new = any(a["alert_id"] == b.alert_id for a in check.raised)
        console.print(
            f"[yellow]below minimum[/]: {escape(b.row.model)} on {escape(b.row.camera_id)} "
            f"{b.row.day.isoformat()}: {b.metric} {b.value:.3f} < {b.threshold:.3f} "
            + ("(alert raised)" if new else "(alerted before)")
        )
