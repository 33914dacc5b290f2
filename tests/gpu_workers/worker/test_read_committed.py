"""The worker reads read_committed: frames of an aborted transaction are never inferred."""

from __future__ import annotations

from typing import Any

from schemas.contracts import serde_for
from tests.gpu_workers.worker.conftest import worker_settings
from vigil.testing import (
    bikes_jpegs,
    frame_event,
    provision,
    read_to_end,
    wait_until,
    write_aborted,
    write_committed,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def test_frames_of_an_aborted_transaction_are_never_inferred(
    settings: VigilSettings, tiny_model: str, run_worker: Any
) -> None:
    s = worker_settings(settings, tiny_model, max_wait_ms=20)
    provision(s)
    frames = Topic.FRAMES.name_in(s.topics)
    serde = serde_for(s, Topic.FRAMES)
    jpeg = bikes_jpegs(1, (64, 48))[0]

    def events(seqs: range) -> list[tuple[str, bytes | None]]:
        # one camera, so one partition: the sentinel comes after everything else in it
        return [("cam0", serde.serialize(frame_event("cam0", n, jpeg), topic=frames)) for n in seqs]

    write_aborted(s, frames, events(range(0, 3)))
    write_committed(s, frames, events(range(10, 12)))
    write_aborted(s, frames, events(range(20, 22)))
    write_committed(s, frames, events(range(30, 31)))  # the sentinel

    worker, _thread = run_worker(s)
    det_topic = Topic.DETECTIONS.name_in(s.topics)
    det_serde = serde_for(s, Topic.DETECTIONS)

    def sentinel_seen(msgs: list[Any]) -> bool:
        return any(det_serde.decode(m)["frame_id"] == "cam0-30" for m in msgs)

    # once the sentinel's detection is committed, any detection of an earlier frame of the
    # partition is committed too: read to the topic's end at that point, no idle wait
    out = [det_serde.decode(m) for m in read_to_end(s, det_topic, until=sentinel_seen)]
    assert [d["frame_id"] for d in out] == ["cam0-10", "cam0-11", "cam0-30"]
    wait_until(lambda: worker.committed_frames == 3, 30, "worker commits 3 frames")
    assert worker.aborted == 0
