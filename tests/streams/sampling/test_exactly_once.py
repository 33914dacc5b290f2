"""Exactly-once through the sampling app, real broker, the app as a real process: SIGKILLed
twice, each time right after it sent a sample and before its checkpoint committed, every
sample appears once on ``vigil.samples`` (read_committed), none missing, none extra."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.streams.probe import Uncommitted
from tests.streams.sampling import helpers as h
from tests.streams.sampling.synth import det, event
from vigil.testing import produce_events, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

CAMERAS = ("eo-a", "eo-b", "eo-c")
FRAMES = 300  # per camera; every 7th uncertain


def events() -> tuple[list[dict[str, Any]], set[str]]:
    out, want = [], set()
    for i in range(FRAMES):
        for cam in CAMERAS:
            uncertain = i % 7 == 3
            out.append(event(cam, i, [det(score=0.45 if uncertain else 0.9)]))
            if uncertain:
                want.add(f"{cam}-{i}@v1")
    return out, want


@pytest.mark.timeout(600)
def test_two_sigkills_each_sample_once(settings: VigilSettings, tmp_path: Path) -> None:
    settings = h.with_sampling(
        settings,
        budget_per_camera_hour=1000,
        commit_interval_s=3.0,
        transaction_timeout_s=10.0,
        shadow=False,
    )
    provision(settings)
    evs, want = events()
    thirds = [0, len(evs) // 3, 2 * len(evs) // 3, len(evs)]
    probe = Uncommitted(settings, Topic.SAMPLES)
    app = h.SampleProcess(settings, tmp_path / "sample.log", only="app")
    try:
        for k in range(2):
            produce_events(settings, Topic.DETECTIONS, evs[thirds[k] : thirds[k + 1]])
            last = {e["frame_id"] for e in evs[thirds[k] : thirds[k + 1]]}
            probe.wait_for(lambda s, last=last: s["frame_id"] in last, 120, app.alive)  # type: ignore[misc]
            app.kill()  # a sample was sent; its checkpoint (3 s) has not committed
            app = h.SampleProcess(settings, tmp_path / "sample.log", only="app")
        produce_events(settings, Topic.DETECTIONS, evs[thirds[2] :])
        samples = h.committed_samples(settings, len(evs), app, timeout_s=240)
    finally:
        probe.close()
        code = app.stop()
    got = [s["sample_id"] for s in samples]
    assert len(got) == len(set(got)), "a sample was published twice"
    assert set(got) == want
    assert code == 0
