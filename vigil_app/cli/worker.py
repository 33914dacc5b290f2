"""``vigil worker`` (the inference worker) and ``vigil gpu-check`` (the GPU engines against ONNX
Runtime on the CPU, and the torch path's throughput)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from gpu_workers.engines import EngineError
from gpu_workers.gpu.check import run_check
from gpu_workers.gpu.trial import DEFAULT_MODELS, GpuCheckError, Options
from gpu_workers.models.files import ModelNotPrepared
from gpu_workers.models.spec import SpecError
from gpu_workers.replay.candidate import ensure_candidate_topics
from gpu_workers.replay.shadow import shadow_worker
from gpu_workers.worker.loop import Worker
from vigil import kafka
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.topics import prepare_topics
from vigil_app.cli.common import console, fail, settings_of


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("gpu-check")(gpu_check)


def worker(
    ctx: typer.Context,
    instance: Annotated[
        str | None,
        typer.Option(help="Stable id of this worker process (default: worker.instance_id)."),
    ] = None,
    shadow: Annotated[
        bool, typer.Option(help="Run --model beside production: own group, candidates' topic.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="With --shadow: candidate zoo name or spec YAML.")
    ] = None,
) -> None:
    """Consume frames, batch them through the detector, publish detections exactly once."""

    settings = settings_of(ctx)
    if shadow != bool(model):
        fail("--shadow and --model go together (production's detector is models.detector)")
    setup_logging(settings, "worker")
    serve_metrics(settings.metrics_port, "worker")
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    try:
        if shadow and model:
            ensure_candidate_topics(settings)
            w = shadow_worker(settings, model, instance=instance)
        else:
            w = Worker(settings, instance=instance, follow_registry=True)
    except (ModelNotPrepared, SpecError, EngineError) as exc:
        fail(escape(str(exc)))

    def stop(_signum: int, _frame: Any) -> None:
        w.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    w.run()
    console.print(f"worker {w.instance} stopped: {w.committed_frames} frames committed")


def gpu_check(
    ctx: typer.Context,
    all_checks: Annotated[
        bool,
        typer.Option("--all", help="Every default model, every GPU engine, and throughput."),
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Zoo name or spec YAML (default: the detector).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto | cuda[:N] | cpu (a dry run here).")] = "auto",
    out: Annotated[Path, typer.Option(help="Where the JSON report goes.")] = Path("gpu-check.json"),
    seconds: Annotated[float, typer.Option(min=0.01, help="Per throughput figure.")] = 1.0,
    frames: Annotated[Path | None, typer.Option(help="A folder of .jpg frames.")] = None,
) -> None:
    """Run the models through each GPU engine here (torch, TensorRT) and compare with ONNX Runtime
    on the CPU; with --all also measure decode, preprocess and inference frames/s on the GPU."""

    settings = settings_of(ctx)
    models = list(DEFAULT_MODELS) if all_checks else [model or settings.models.detector]
    opts = Options(
        settings.cache_dir,
        device=device,
        models=models,
        throughput=all_checks,
        seconds=seconds,
        frames_dir=frames,
    )
    try:
        report = run_check(opts)
    except (GpuCheckError, ModelNotPrepared, EngineError) as exc:
        fail(escape(str(exc)), code=3)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for row in report["parity"]:
        diffs = ", ".join(
            f"{name} {o['max_abs_diff']:.2e}" for name, o in (row.get("outputs") or {}).items()
        )
        verdict = "[green]pass[/]" if row["passed"] else "[red]FAIL[/]"
        console.print(
            f"{row['model']} on {row['engine']} ({row.get('precision', '-')}): {verdict} "
            f"{escape(diffs or str(row.get('error', '')))}"
        )
    if "goal" in report:
        console.print(f"goal: {escape(json.dumps(report['goal']))}")
    console.print(f"report: {out}")
    if not report["passed"]:
        fail("a GPU engine differs from ONNX Runtime beyond tolerance, or a step failed", code=1)
