"""One replay from start to finish: plan the offsets, run the replayer, record the run.

The run's summary (model, frames, frames/s, time in inference) is kept as JSON under
``<data_dir>/replay/runs/`` so ``vigil eval`` can report the speed the replay measured."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpu_workers.replay.bounds import ReplayPlan, plan_replay
from gpu_workers.replay.candidate import EngineKind, candidate_settings, ensure_candidate_topics
from gpu_workers.replay.replayer import Replayer, ReplayResult, TimedInference
from gpu_workers.settings import GpuWorkersSettings
from vigil import kafka
from vigil.topics import Topic


@dataclass(frozen=True)
class ReplayRequest:
    from_ms: int
    to_ms: int
    model: str
    cameras: tuple[str, ...] = ()
    engine: EngineKind | None = None
    partitions: tuple[int, ...] = ()
    partial: bool = False
    group_id: str | None = None


def runs_dir(settings: GpuWorkersSettings) -> Path:
    return settings.data_dir / "replay" / "runs"


def plan_for(settings: GpuWorkersSettings, req: ReplayRequest) -> ReplayPlan:
    """Raises ``OutOfRetention`` (the message names the range still held) or ``ValueError``."""
    probe = kafka.consumer(settings, f"vigil-replay-planner-{uuid.uuid4().hex[:8]}")
    try:
        return plan_replay(
            probe,
            Topic.FRAMES.name_in(settings.topics),
            req.from_ms,
            req.to_ms,
            partitions=list(req.partitions) or None,
            clock_skew_ms=settings.replay.clock_skew_ms,
            max_ingest_delay_ms=settings.replay.max_ingest_delay_ms,
            partial=req.partial,
        )
    finally:
        probe.close()


def run_replay(
    settings: GpuWorkersSettings,
    req: ReplayRequest,
    *,
    plan: ReplayPlan | None = None,
    inference: TimedInference | None = None,
    on_progress: Callable[[Replayer], None] | None = None,
) -> ReplayResult:
    """Replay ``req`` to the end of its plan; ``on_progress`` is called about 4 times a second
    from this thread while the replayer runs in another."""
    ensure_candidate_topics(settings)
    plan = plan or plan_for(settings, req)
    cand = candidate_settings(settings, req.model, req.engine)
    replayer = Replayer(cand, plan, cameras=req.cameras, inference=inference, group_id=req.group_id)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            replayer.run()
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="replay", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            if on_progress is not None:
                on_progress(replayer)
            thread.join(0.25)
    except KeyboardInterrupt:
        replayer.stop()  # finishes and commits the batch in flight
        thread.join(60)
        raise
    if errors:
        raise errors[0]
    if on_progress is not None:
        on_progress(replayer)
    result = replayer.result()
    folder = runs_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**result.as_dict(), "from_ms": plan.from_ms, "to_ms": plan.to_ms}
    (folder / f"{result.group_id}.json").write_text(json.dumps(record, indent=2))
    return result
