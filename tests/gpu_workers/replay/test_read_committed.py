"""The replay reads read_committed: frames of an aborted transaction inside the replayed range
are not replayed."""

from __future__ import annotations

from pathlib import Path

from gpu_workers.replay.candidate import candidates_topics
from gpu_workers.replay.run import ReplayRequest, run_replay
from schemas.contracts import serde_for
from tests.gpu_workers.worker.helpers import tiny_detector
from vigil.testing import (
    bikes_jpegs,
    frame_event,
    now_ms,
    provision,
    read_to_end,
    write_aborted,
    write_committed,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def test_aborted_frames_in_the_range_are_not_replayed(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    frames = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    jpeg = bikes_jpegs(1, (64, 48))[0]
    base = now_ms() - 30_000  # captured 30 s ago, produced now: the plan spans all of them

    def events(seqs: range, offset_ms: int = 0) -> list[tuple[str, bytes | None]]:
        out: list[tuple[str, bytes | None]] = []
        for n in seqs:
            ts = base + offset_ms + n * 100
            ev = frame_event("cam-a", n, jpeg, capture_ts_ms=ts, ingest_ts_ms=ts)
            out.append(("cam-a", serde.serialize(ev, topic=frames)))
        return out

    # all captured inside [base, base + 10 s] except cam-a-12, captured after it
    write_aborted(settings, frames, events(range(0, 3)))
    write_committed(settings, frames, events(range(10, 12)))
    write_committed(settings, frames, events(range(12, 13), offset_ms=20_000))
    write_aborted(settings, frames, events(range(20, 22)))  # at the end of the plan

    spec = tiny_detector(tmp_path / "tiny")
    result = run_replay(settings, ReplayRequest(base, base + 10_000, str(spec)))

    # 12 offsets planned: both aborted transactions (and their markers) are inside the range
    assert (result.planned, result.consumed, result.replayed, result.skipped) == (12, 3, 2, 1)
    out_topic = Topic.DETECTIONS.name_in(candidates_topics(settings))
    assert result.output_topic == out_topic
    det_serde = serde_for(settings, Topic.DETECTIONS)
    ids = [det_serde.decode(m)["frame_id"] for m in read_to_end(settings, out_topic)]
    assert ids == ["cam-a-10", "cam-a-11"]
