"""A candidate model's check, as ``vigil replay`` + ``vigil eval`` do it by hand: a time range
of frames replayed through the candidate onto the candidates' topics, its detections sunk into
ClickHouse beside production's, and the eval report of the candidate against the baseline on
the same frames written to ``<data_dir>/eval/<folder>/`` (what the promotion gate reads). The
demo's replay stage and the retraining loop run it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from evaluation.report import EvalRequest, build_report, write_report
from evaluation.settings import CandidateProcessSettings
from evaluation.source import Window
from gpu_workers.replay.candidate import candidates_topics, slug
from gpu_workers.replay.replayer import ReplayResult
from gpu_workers.replay.run import ReplayRequest, run_replay, runs_dir
from vigil.clickhouse import connect
from vigil.topics import Topic

S = TypeVar("S", bound=CandidateProcessSettings)
Status = Callable[[str], None]


def candidates_settings(settings: S) -> S:
    """Settings as the ClickHouse sink of the candidates' topics needs them (a candidate's
    detections are sunk beside production's, in a consumer group of their own)."""
    sink = settings.clickhouse_sink.model_copy(
        update={"group_id": f"{settings.clickhouse_sink.group_id}-candidates"}
    )
    return settings.model_copy(
        update={"topics": candidates_topics(settings), "clickhouse_sink": sink}
    )


@dataclass(frozen=True)
class CandidateRun:
    replay: ReplayResult
    report: dict[str, Any]
    json_path: Path
    html_path: Path


def evaluate_candidate(
    settings: CandidateProcessSettings,
    spec: Path | str,
    baseline: str,
    from_ms: int,
    to_ms: int,
    *,
    cameras: Sequence[str] = (),
    rules: Path | None = None,
    labels: Path | None = None,
    folder: str | None = None,
    partial: bool = False,
    status: Status | None = None,
) -> CandidateRun:
    """Replay [from_ms, to_ms] through ``spec``, sink, and evaluate against ``baseline``
    (``NAME@VERSION`` as recorded; production's topic first). ``partial``: replay what
    retention kept when ``from_ms`` is older."""
    say = status or (lambda _text: None)
    req = ReplayRequest(from_ms, to_ms, str(spec), cameras=tuple(cameras), partial=partial)
    say(f"replaying frames through {spec}")
    result = run_replay(settings, req)
    client = connect(settings)
    try:
        say("sinking the candidate's detections into ClickHouse")
        sink_until_caught_up(candidates_settings(settings), client)
        prod = Topic.DETECTIONS.name_in(settings.topics)
        cands = Topic.DETECTIONS.name_in(candidates_topics(settings))
        say(f"evaluating {result.model} against {baseline}")
        report = build_report(
            client,
            settings.clickhouse.database,
            EvalRequest(
                baseline,
                result.model,
                (prod, cands),
                (cands, prod),
                Window(from_ms, to_ms, tuple(cameras)),
                labels=labels,
                rules=rules,
                iou=settings.replay.iou,
                runs_dir=runs_dir(settings),
            ),
        )
    finally:
        client.close()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = settings.data_dir / "eval" / (folder or f"{stamp}-{slug(result.model)}")
    json_path, html_path = write_report(report, out)
    return CandidateRun(result, report, json_path, html_path)
