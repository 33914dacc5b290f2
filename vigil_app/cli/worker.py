"""``vigil worker`` (the inference worker) and ``vigil gpu-check`` (TensorRT vs ONNX Runtime)."""

from __future__ import annotations

import signal
from typing import Annotated, Any

import typer
from rich.markup import escape

from gpu_workers.engines import EngineError
from gpu_workers.engines.gpucheck import GpuCheckError, run_gpu_check
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
    model: Annotated[str | None, typer.Option(help="Zoo name or spec YAML.")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Batch size to compare.")] = 4,
    tolerance: Annotated[float, typer.Option(help="Max abs difference allowed.")] = 0.05,
) -> None:
    """Build the TensorRT engine for a model and compare its outputs with ONNX Runtime (CPU)."""

    settings = settings_of(ctx)
    try:
        report = run_gpu_check(settings, model or settings.models.detector, batch)
    except GpuCheckError as exc:
        fail(escape(str(exc)), code=3)
    for name, diff in report.max_abs_diff.items():
        console.print(f"{name}: max abs difference {diff:.6f}")
    console.print(f"GPU {report.gpu}, TensorRT {report.trt_version}, engine {report.engine_path}")
    if max(report.max_abs_diff.values(), default=0.0) > tolerance:
        fail(f"TensorRT outputs differ from ONNX Runtime by more than {tolerance}", code=1)
    console.print("[green]TensorRT matches ONNX Runtime within tolerance[/]")
