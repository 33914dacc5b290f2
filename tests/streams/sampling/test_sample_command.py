"""``vigil sample`` whole, as users run it: frames and their detections on the real broker in,
the uncertain frames' images and records in the dataset store out, a clean SIGTERM."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sinks.dataset.copier import store_of
from tests.connectors.sinks.dataset.support import jpegs
from tests.streams.sampling import helpers as h
from tests.streams.sampling.synth import det, event
from vigil.testing import now_ms, produce_events, produce_timed, provision, wait_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


@pytest.mark.timeout(300)
def test_vigil_sample_copies_the_chosen_frames(settings: VigilSettings, tmp_path: Path) -> None:
    settings = h.with_sampling(settings, {"name": "e2e"}, shadow=False)
    provision(settings)
    frames = produce_timed(settings, "cam", jpegs(6), now_ms(), 100)
    detections = []
    for f in frames:
        e = event("cam", f["sequence"], [det(score=0.4 if f["sequence"] in (1, 4) else 0.9)])
        detections.append({**e, "capture_ts_ms": f["capture_ts_ms"], "faces_searched": True})
    produce_events(settings, Topic.DETECTIONS, detections)
    app = h.SampleProcess(settings, tmp_path / "sample.log")
    store = store_of(settings)
    try:
        wait_until(
            lambda: len(list(store.records())) >= 2 or not app.alive(), 120, "two samples copied"
        )
    finally:
        code = app.stop()
    records = {r["frame_id"]: r for r in store.records()}
    assert set(records) == {"cam-1", "cam-4"}, app.log_text()[-3000:]
    assert code == 0
    for r in records.values():
        assert r["status"] == "copied"
        assert r["privacy"] == "faces-blurred"
        assert (store.folder / r["image"]).stat().st_size > 1000
        assert r["reasons"][0]["kind"] == "UNCERTAIN"
