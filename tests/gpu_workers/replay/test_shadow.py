"""``vigil worker --shadow``: a candidate on live frames in its own group, beside production,
writing to the candidates' topic; it starts at the live end, not at the oldest frame."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gpu_workers.replay.candidate import candidates_topics, ensure_candidate_topics
from gpu_workers.replay.shadow import shadow_worker
from tests.gpu_workers.replay.support import committed, read_all
from tests.gpu_workers.worker.helpers import tiny_detector
from vigil.testing import bikes_jpegs, frame_event, poll_until, produce_frames, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def test_shadow_runs_beside_production_on_live_frames(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    ensure_candidate_topics(settings)
    jpegs = bikes_jpegs(8)
    produce_frames(settings, [frame_event("cam", i, jpegs[i]) for i in range(3)])  # history
    worker = shadow_worker(settings, str(tiny_detector(tmp_path / "tiny")), instance="s1")
    assert worker.group_id.startswith("vigil-shadow-tiny-yolo-")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    started = time.monotonic()  # one 60 s bound for both waits
    poll_until(lambda: worker.consumer.assignment(), 60, 0.1)
    time.sleep(2.0)  # the first fetch resolves the new group's start: the live end
    produce_frames(settings, [frame_event("cam", i, jpegs[i]) for i in range(3, 8)])  # live
    left = max(0.0, 60 - (time.monotonic() - started))
    poll_until(lambda: worker.committed_frames >= 5, left, 0.1)
    worker.stop()
    thread.join(30)

    out = read_all(
        settings, Topic.DETECTIONS.name_in(candidates_topics(settings)), Topic.DETECTIONS
    )
    assert sorted(ev["frame_id"] for ev in out) == [f"cam-{i}" for i in range(3, 8)]
    assert {ev["model_name"] for ev in out} == {"tiny-yolo"}
    assert read_all(settings, Topic.DETECTIONS.name_in(settings.topics), Topic.DETECTIONS) == []
    frames = Topic.FRAMES.name_in(settings.topics)
    assert all(o < 0 for o in committed(settings, settings.worker.group_id, frames).values())
    assert sum(o for o in committed(settings, worker.group_id, frames).values() if o > 0) == 8
