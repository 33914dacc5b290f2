"""The demo's last stage, one turn of keeping a model good (README, "Keeping models good"):

1. the drift stage's brightness alarm is sunk into ClickHouse, where the retraining trigger
   reads it;
2. ``vigil sample`` (a real subprocess) picks frames worth labelling from the detections and
   copies them out of ``vigil.frames`` into the dataset store, faces blurred; they are exported
   as COCO for CVAT or Label Studio;
3. labels come back from a shipped file (vigil_app/demo/labels.py: reference labels, not human
   ones) and production's accuracy against them is stored, printed and charted on the
   dashboard;
4. the retraining loop runs, due because of the drift alarm: its command (a stand-in,
   vigil_app/demo/train.py) writes a candidate, which is registered, replayed over the sample
   video's frames, evaluated against production and promoted by the gate;
5. the promotion is rolled back: production is the configured model again."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from connectors.sinks.dataset.copier import store_of
from connectors.sinks.dataset.export import export
from connectors.sinks.dataset.store import COPIED
from evaluation.accuracy_check import check_accuracy
from evaluation.label_store import store_labels
from evaluation.labels import read_labels
from evaluation.promotion import rollback
from lifecycle.retrain import Outcome, run_once
from lifecycle.settings import RetrainSettings, RetrainTriggers
from vigil.clickhouse import connect
from vigil.registry import label, read_registry
from vigil.topics import Topic
from vigil_app.accuracy_table import print_check
from vigil_app.demo.apps import app_env, terminate, vigil_command
from vigil_app.demo.drift import drift_topics
from vigil_app.demo.labels import frames_for, shipped
from vigil_app.demo.sources import SAMPLE_CAMERA, VideoIngest
from vigil_app.settings import VigilSettings

MIN_SAMPLES = 3
SAMPLE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class LifecycleDemo:
    samples: int
    exported: Path
    labelled_frames: int
    retrain: Outcome
    rolled_back_to: str

    @property
    def summary(self) -> str:
        model = label(self.retrain.candidate)
        return (
            f"{self.samples} samples, {self.labelled_frames} labelled frames; {model} promoted "
            f"by the gate, rolled back to {self.rolled_back_to}"
        )


def demo_settings(settings: VigilSettings) -> VigilSettings:
    """The loop as the demo runs it: one drift alarm is enough, no wait between runs, the
    sample video's frames of the last hour replayed, and a gate sized to its 50 frames."""
    command = (
        f"{sys.executable} -m vigil_app.demo.train {{dataset}} {{output}} "
        "{production_spec} {run}"
    )
    retrain = RetrainSettings(
        command=command,
        timeout_s=300,
        triggers=RetrainTriggers(drift_alarms=1, lookback_h=1),
        replay_hours=1,
        cameras=[SAMPLE_CAMERA],
        auto_promote=True,
        min_interval_h=0,
    )
    gate = settings.promotion.model_copy(update={"min_frames": 30})
    return settings.model_copy(update={"retrain": retrain, "promotion": gate})


def _sink_drift_alarms(settings: VigilSettings) -> None:
    """The drift stage ran on topics of its own; its statistics join ClickHouse's drift table."""
    sink = settings.clickhouse_sink.model_copy(
        update={"group_id": f"{settings.clickhouse_sink.group_id}-drift-demo"}
    )
    drift = settings.model_copy(update={"topics": drift_topics(settings), "clickhouse_sink": sink})
    client = connect(settings)
    try:
        sink_until_caught_up(drift, client, topics=(Topic.DRIFT,))
    finally:
        client.close()


def _sample(settings: VigilSettings, console: Console) -> int:
    """``vigil sample`` until the dataset store holds MIN_SAMPLES copied frames."""
    env = app_env(settings)
    store = store_of(settings)
    log_path = settings.data_dir / "demo" / "sample.log"
    command = vigil_command("sample")

    def copied() -> int:
        return sum(1 for r in store.records() if r.get("status") == COPIED)

    with log_path.open("ab") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SAMPLE_TIMEOUT_S
            with console.status("Running `vigil sample` on the detections..."):
                while time.monotonic() < deadline and proc.poll() is None:
                    if copied() >= MIN_SAMPLES:
                        time.sleep(2.0)  # the rest of the batch being copied
                        break
                    time.sleep(0.5)
        finally:
            terminate(proc, 60)
    found = copied()
    if found < MIN_SAMPLES:
        raise SystemExit(f"demo failed: {found} samples copied by `vigil sample`; see {log_path}")
    reasons: dict[str, int] = {}
    for rec in store.records():
        for r in rec.get("reasons", []):
            reasons[r["kind"]] = reasons.get(r["kind"], 0) + 1
    why = ", ".join(f"{k} {n}" for k, n in sorted(reasons.items()))
    console.print(f"Active learning: {found} frames copied into {store.folder} ({why})")
    return found


def _labels(settings: VigilSettings, video: VideoIngest, console: Console) -> int:
    """Import the shipped labels onto this run's frames, store production's accuracy."""
    if video.first_sequence is None:
        raise SystemExit("demo failed: the sample video ingested no frame")
    path = frames_for(
        shipped(), SAMPLE_CAMERA, video.first_sequence, settings.data_dir / "demo" / "labels.json"
    )
    client = connect(settings)
    try:
        done = store_labels(
            client,
            settings.clickhouse.database,
            settings.accuracy.dataset,
            read_labels(path),
        )
        console.print(
            f"Labels: {done.frames} frames ({done.objects} objects) imported from {path} "
            "(reference labels shipped with the demo, not human ones)",
            soft_wrap=True,
        )
        print_check(check_accuracy(settings, client, settings.accuracy.dataset))
    finally:
        client.close()
    console.print("The dashboard's overview charts it: 'Accuracy against labels per model version'")
    return done.frames


def run_lifecycle_demo(
    settings: VigilSettings, video: VideoIngest, console: Console
) -> LifecycleDemo:
    """The turn; SystemExit naming the step that fell short."""
    console.rule("Keeping the model good")
    _sink_drift_alarms(settings)
    samples = _sample(settings, console)
    out = export(store_of(settings), "coco", settings.data_dir / "demo" / "dataset-coco")
    console.print(
        f"Exported {out.images} images with {out.annotations} pre-annotations for CVAT / Label "
        f"Studio: {out.out} (`vigil dataset export --format coco|labelstudio`)",
        soft_wrap=True,
    )
    labelled = _labels(settings, video, console)
    loop = demo_settings(settings)
    outcome = run_once(loop, say=lambda text: console.print(f"  retrain: {text}"))
    console.print(f"Retraining: [bold]{outcome.status}[/]: {escape(outcome.message)}")
    if outcome.status != "promoted":
        raise SystemExit(f"demo failed: the retraining turn ended {outcome.status}")
    if outcome.gate is not None:
        console.print(
            f"  gate: {outcome.gate.frames_compared} frames compared, agreement "
            f"{outcome.gate.agreement or 0:.3f}; report {outcome.report}",
            soft_wrap=True,
        )
    back = rollback(loop, "detector", reason="demo: undo the retrained model")
    _history(loop, console)
    return LifecycleDemo(samples, out.out, labelled, outcome, label(back))


def _history(settings: VigilSettings, console: Console) -> None:
    reg = read_registry(settings)
    table = Table("action", "model", "by", "why", title="vigil models history")
    entries = [*reg.models.values(), *reg.history.get("detector", [])]
    for r in sorted(entries, key=lambda e: e["ts_ms"]):
        table.add_row(r["action"], label(r), r["actor"], escape(r["reason"]))
    console.print(table)
    console.print(
        f"Production detector now: {label(reg.current('detector'))}. By hand: "
        "[bold]vigil models register|promote|rollback|history[/], [bold]vigil retrain run[/]."
    )
