"""The demo's last stage, "is my new model better?" on its footage: the sample video's frames of
the last half hour are replayed through a second configuration of the detector (a stricter
score threshold), sunk into ClickHouse, and compared with production's detections of the same
frames, alerts scored with the demo's rules; the summary is printed with the HTML report's
path."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console

from evaluation.candidate_run import evaluate_candidate
from evaluation.terminal import print_report
from vigil.timeparse import now_ms
from vigil_app.demo.alerting import rules_file
from vigil_app.demo.sources import SAMPLE_CAMERA
from vigil_app.settings import VigilSettings

THRESHOLD = 0.6
WINDOW_MS = 30 * 60_000


def stricter_spec(settings: VigilSettings, threshold: float = THRESHOLD) -> Path:
    """The production detector's spec with a higher score threshold and its own version."""
    folder = settings.cache_dir / "models" / settings.models.detector
    spec = yaml.safe_load((folder / "spec.yaml").read_text(encoding="utf-8"))
    spec.update(
        version=f"{spec['version']}-thr{threshold}",
        score_threshold=threshold,
        file=str(folder / spec["file"]),
    )
    out = settings.data_dir / "demo" / "candidate" / "spec.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return out


def run_replay_demo(settings: VigilSettings, console: Console) -> Path:
    """Replay, sink, evaluate; the HTML report's path."""
    spec = stricter_spec(settings)
    to_ms = now_ms()
    with console.status(f"Replaying the last 30 min of {SAMPLE_CAMERA} through {spec}..."):
        run = evaluate_candidate(
            settings,
            spec,
            settings.models.detector,
            to_ms - WINDOW_MS,
            to_ms,
            cameras=(SAMPLE_CAMERA,),
            rules=rules_file(settings),
            folder="demo",
        )
    result = run.replay
    console.print(
        f"Replay: {result.replayed} frames through {result.model} at "
        f"{result.frames_per_s:.1f} frames/s -> {result.output_topic}"
    )
    print_report(console, run.report)
    console.print(f"HTML report: {run.html_path}", soft_wrap=True)
    console.print(
        f"Again by hand: [bold]vigil replay --from -30m --to now --cameras {SAMPLE_CAMERA} "
        f"--model {spec}[/] then [bold]vigil eval --baseline {settings.models.detector} "
        f"--candidate {result.model}[/]",
        soft_wrap=True,
    )
    return run.html_path
