"""``vigil replay`` (a time range of frames through a candidate model) and ``vigil eval``
(candidate vs baseline, from ClickHouse)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from evaluation.coco import LabelsError
from evaluation.promotion import production_of, recorded
from evaluation.report import EvalRequest, build_report, write_report
from evaluation.source import SelectionError, Window
from evaluation.terminal import print_report
from gpu_workers.engines import EngineError
from gpu_workers.models.files import ModelNotPrepared
from gpu_workers.models.spec import SpecError
from gpu_workers.replay.bounds import OutOfRetention, iso
from gpu_workers.replay.candidate import candidates_topics, slug
from gpu_workers.replay.replayer import Replayer
from gpu_workers.replay.run import ReplayRequest, plan_for, run_replay, runs_dir
from vigil import kafka
from vigil.clickhouse import connect
from vigil.logs import setup_logging
from vigil.registry import read_registry
from vigil.settings import ConfigError
from vigil.timeparse import parse_time
from vigil.topics import Topic
from vigil_app.cli.common import console, fail, settings_of
from vigil_app.settings import candidates_settings

Engine = Literal["onnxruntime", "tensorrt"]


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
    app.command("eval")(evaluate)


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


def replay(
    ctx: typer.Context,
    from_: Annotated[
        str, typer.Option("--from", help="Capture time: ISO 8601 (UTC if no zone), epoch ms, -2h.")
    ],
    to: Annotated[str, typer.Option("--to", help="Capture time, inclusive; 'now' for now.")],
    model: Annotated[str, typer.Option(help="Candidate: zoo name or spec YAML.")],
    cameras: Annotated[str | None, typer.Option(help="Comma-separated camera ids.")] = None,
    engine: Annotated[Engine | None, typer.Option(help="Default: worker.engine.")] = None,
    partitions: Annotated[
        str | None, typer.Option(help="Frames partitions of this process, e.g. 0,1 (default all).")
    ] = None,
    partial: Annotated[
        bool, typer.Option(help="Replay what retention kept when --from is older.")
    ] = False,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default: a fresh one).")
    ] = None,
    sink: Annotated[
        bool, typer.Option(help="Then sink the candidates' detections into ClickHouse.")
    ] = True,
) -> None:
    """Run the frames captured in [--from, --to] through a candidate model, as fast as the
    engine allows; detections go to the candidates' topic (never production's)."""

    settings = settings_of(ctx)
    setup_logging(settings, "replay")
    try:
        req = ReplayRequest(
            parse_time(from_),
            parse_time(to),
            model,
            cameras=_split(cameras),
            engine=engine,
            partitions=tuple(int(p) for p in _split(partitions)),
            partial=partial,
            group_id=group,
        )
    except ValueError as exc:
        fail(escape(str(exc)))
    kafka.wait_until_ready(settings)
    try:
        plan = plan_for(settings, req)
    except OutOfRetention as exc:
        fail(escape(str(exc)), code=3)
    except (ValueError, LookupError) as exc:
        fail(escape(str(exc)))
    console.print(
        f"Replaying captures {iso(plan.from_ms)} .. {iso(plan.to_ms)}: {plan.total} records on "
        f"{len(plan.partitions)} partitions of {plan.topic}"
    )
    progress = Progress(
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} frames/s"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task("replay", total=max(1, plan.total), fps=0.0)
    t0 = time.monotonic()

    def update(r: Replayer) -> None:
        elapsed = max(1e-6, time.monotonic() - t0)
        progress.update(task, completed=r.progress, fps=r.timed.frames / elapsed)

    try:
        with progress:
            result = run_replay(settings, req, plan=plan, on_progress=update)
    except (ModelNotPrepared, SpecError, EngineError) as exc:
        fail(escape(str(exc)))
    console.print(
        f"[green]replayed[/] {result.replayed} frames with {result.model} in "
        f"{result.elapsed_s:.1f} s ({result.frames_per_s:.1f} frames/s; {result.skipped} "
        f"records outside the range or cameras skipped) -> {result.output_topic}"
    )
    if sink:
        client = connect(settings)
        try:
            stats = sink_until_caught_up(candidates_settings(settings), client)
        finally:
            client.close()
        console.print(f"ClickHouse: {stats.rows} rows from {stats.messages} candidate events")
    baseline = recorded(production_of(settings, read_registry(settings), "detector"))
    console.print(
        f"Compare: [bold]vigil eval --baseline {escape(baseline)} "
        f"--candidate {escape(result.model)} --from {plan.from_ms} --to {plan.to_ms}[/]"
    )


def evaluate(
    ctx: typer.Context,
    baseline: Annotated[str, typer.Option(help="NAME@VERSION (production's topic first).")],
    candidate: Annotated[str, typer.Option(help="NAME@VERSION (the candidates' topic first).")],
    from_: Annotated[str | None, typer.Option("--from", help="Capture time lower bound.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Capture time upper bound.")] = None,
    cameras: Annotated[str | None, typer.Option(help="Comma-separated camera ids.")] = None,
    labels: Annotated[
        Path | None, typer.Option(help="COCO-format ground truth: mAP@0.5 of both models.")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="Alerting rules YAML: the alerts each model would raise.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default under data_dir).")
    ] = None,
) -> None:
    """Compare a candidate with a baseline on the same frames: agreement, per-label
    precision/recall/F1, count and score deltas, alerts, speed; JSON and HTML reports."""

    settings = settings_of(ctx)
    try:
        window = Window(
            parse_time(from_) if from_ else None,
            parse_time(to) if to else None,
            _split(cameras),
        )
    except ValueError as exc:
        fail(escape(str(exc)))
    prod = Topic.DETECTIONS.name_in(settings.topics)
    cands = Topic.DETECTIONS.name_in(candidates_topics(settings))
    req = EvalRequest(
        baseline,
        candidate,
        (prod, cands),
        (cands, prod),
        window,
        labels,
        rules,
        settings.replay.iou,
        runs_dir(settings),
    )
    client = connect(settings)
    try:
        report = build_report(client, settings.clickhouse.database, req)
    except (SelectionError, LabelsError, ConfigError) as exc:
        fail(escape(str(exc)))
    finally:
        client.close()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder = out or settings.data_dir / "eval" / f"{stamp}-{slug(candidate)}"
    json_path, html_path = write_report(report, folder)
    print_report(console, report)
    console.print(f"JSON report: {json_path}\nHTML report: {html_path}", soft_wrap=True)
