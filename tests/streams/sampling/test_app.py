"""``vigil sample --only app`` as a real process on the real broker: each rule picks what it
should and nothing else (one app run, one camera per rule), the budget caps a camera-hour, an
undecodable event goes to the DLQ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.sampling.app import candidates_topic
from streams.sampling.select import priority
from tests.streams.sampling import helpers as h
from tests.streams.sampling.synth import BASE_MS, FRAME_MS, HOUR_MS, det, drift_alert, event
from vigil import kafka
from vigil.testing import produce_events, provision, read_topic
from vigil.topics import Topic, wait_for_leaders
from vigil_app.settings import VigilSettings

BOX = (0.1, 0.1, 0.4, 0.6)


def scenario() -> tuple[list[Any], list[Any], list[Any], set[str]]:
    """(production events, candidate events, alerts, the frame ids that must be sampled)."""
    prod: list[Any] = []
    want: set[str] = set()
    # uncertain: seq 5 and 12; a carried frame with an uncertain score is not
    prod += [event("unc", i, [det(score=0.45 if i in (5, 12) else 0.9)]) for i in range(20)]
    prod.append(event("unc", 20, [det(score=0.45)], carried="unc-19"))
    want |= {"unc-5", "unc-12"}
    # rare: one bicycle among 50 cars (warm-up 40)
    prod += [event("rare", i, [det("bicycle" if i == 50 else "car")]) for i in range(60)]
    want.add("rare-50")
    # budget 5 per hour: 30 uncertain frames, then 3 in the next hour
    prod += [event("bud", i, [det(score=0.4)]) for i in range(30)]
    prod += [event("bud", 100 + i, [det(score=0.4)], at_ms=BASE_MS + HOUR_MS + i) for i in range(3)]
    want |= {f"bud-{i}" for i in range(5)} | {"bud-100", "bud-101", "bud-102"}
    # shadow: the candidate misses frames 3 and 7
    cands = [
        event("sha", i, [] if i in (3, 7) else [det(box=BOX)], model="yolo", version="c1")
        for i in range(10)
    ]
    prod += [event("sha", i, [det(box=BOX)]) for i in range(10)]
    want |= {"sha-3", "sha-7"}
    # drift: an alarm on [2 s, 5 s) of the camera's frames; 3 frames of its reservoir
    start, end = BASE_MS + 2000, BASE_MS + 5000
    prod += [event("dri", i, [det()]) for i in range(80)]
    kept: list[str] = []
    for b in range(2, 5):
        frames = [f"dri-{i}" for i in range(80) if b * 1000 <= i * FRAME_MS < (b + 1) * 1000]
        kept += sorted(frames, key=priority)[:2]
    want |= set(sorted(kept, key=priority)[:3])
    alerts = [drift_alert("dri", start, end), {**drift_alert("unc", start, end), "rule_id": "door"}]
    return prod, cands, alerts, want


@pytest.mark.timeout(300)
def test_each_rule_picks_what_it_should_and_nothing_else(
    settings: VigilSettings, tmp_path: Path
) -> None:
    settings = h.with_sampling(
        settings,
        budget_per_camera_hour=5,
        rare_warmup=40,
        rare_fraction=0.05,
        drift_frames=3,
        drift_bucket_s=1.0,
        drift_per_bucket=2,
    )
    provision(settings)
    prod, cands, alerts, want = scenario()
    produce_events(settings, Topic.ALERTS, alerts)
    app = h.SampleProcess(settings, tmp_path / "sample.log", only="app")
    try:
        # the candidates' topic is the app's to create (co-partitioned): wait for it
        wait_for_leaders(kafka.admin(settings), [candidates_topic(settings)], 60)
        h.produce_candidates(settings, cands)
        produce_events(settings, Topic.DETECTIONS, [*prod, b"\x00not avro"], raw_key="junk")
        samples = h.committed_samples(settings, len(prod) + 1, app)
        dlq = read_topic(settings, Topic.DLQ, decode=False, want=1, timeout_s=30)
    finally:
        code = app.stop()
    got = [s["frame_id"] for s in samples]
    assert sorted(got) == sorted(want), app.log_text()[-3000:]
    assert code == 0
    kinds = {s["frame_id"]: {r["kind"] for r in s["reasons"]} for s in samples}
    assert kinds["unc-5"] == {"UNCERTAIN"}
    assert kinds["rare-50"] == {"RARE_CLASS"}
    assert kinds["sha-3"] == {"SHADOW_DISAGREEMENT"}
    assert all(k == {"DRIFT_WINDOW"} for f, k in kinds.items() if f.startswith("dri-"))
    assert all(s["sample_id"] == f"{s['frame_id']}@v1" for s in samples)
    assert [m.value() for m in dlq] == [b"\x00not avro"]
