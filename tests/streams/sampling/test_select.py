"""The selection rules and the budget without a broker: each rule picks what it should and
nothing else, the budget caps a camera-hour, later reasons merge, state stays bounded."""

from __future__ import annotations

from typing import Any

from streams.sampling.alarms import DriftAlarms, alarm_of
from streams.sampling.match import agreement, iou
from streams.sampling.select import DictKV, Sampler, priority
from streams.sampling.settings import SamplingSettings
from tests.streams.sampling.synth import BASE_MS, FRAME_MS, HOUR_MS, det, drift_alert, event

CFG = SamplingSettings(
    budget_per_camera_hour=100, rare_warmup=40, rare_fraction=0.05, drift_frames=3
)


def ids(samples: list[Any]) -> list[str]:
    return [s["frame_id"] for s in samples]


def run(sampler: Sampler, kv: DictKV, events: list[dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for e in events:
        out += sampler.production(kv, e)  # type: ignore[arg-type]
    return out


def test_uncertain_band_is_low_inclusive_high_exclusive() -> None:
    scores = [0.9, 0.3, 0.45, 0.6, 0.29, 0.599]
    events = [event("c", i, [det(score=s)]) for i, s in enumerate(scores)]
    out = run(Sampler(CFG), DictKV(), events)
    assert ids(out) == ["c-1", "c-2", "c-5"]
    assert [r["kind"] for s in out for r in s["reasons"]] == ["UNCERTAIN"] * 3
    assert out[0]["sample_id"] == "c-1@v1"
    assert "0.300 in [0.3, 0.6)" in out[0]["reasons"][0]["detail"]


def test_carried_frames_are_not_sampled() -> None:
    out = run(Sampler(CFG), DictKV(), [event("c", 0, [det(score=0.4)], carried="c-x")])
    assert out == []


def test_rare_class_after_warmup_only() -> None:
    events = [event("c", i, [det("car")]) for i in range(50)]
    events[10] = event("c", 10, [det("bicycle")])  # before warm-up: not judged
    events[45] = event("c", 45, [det("bicycle")])  # 1 of 45 (2.2%) < 5%: rare
    events.append(event("c", 50, [det("car")]))
    out = run(Sampler(CFG), DictKV(), events)
    assert ids(out) == ["c-45"]
    assert out[0]["reasons"][0]["kind"] == "RARE_CLASS"
    assert out[0]["reasons"][0]["detail"].startswith("bicycle: 1 of 45 detections")


def test_budget_caps_each_camera_hour_in_event_time() -> None:
    cfg = CFG.model_copy(update={"budget_per_camera_hour": 5})
    events = [event("a", i, [det(score=0.4)]) for i in range(20)]
    events += [event("b", i, [det(score=0.4)]) for i in range(3)]
    events += [event("a", 100 + i, [det(score=0.4)], at_ms=BASE_MS + HOUR_MS + i) for i in range(7)]
    sampler = Sampler(cfg)
    kvs = {"a": DictKV(), "b": DictKV()}
    out = [s for e in events for s in sampler.production(kvs[e["camera_id"]], e)]  # type: ignore[arg-type]
    assert ids(out) == [f"a-{i}" for i in range(5)] + ["b-0", "b-1", "b-2"] + [
        f"a-{100 + i}" for i in range(5)
    ]


def test_shadow_disagreement_either_arrival_order() -> None:
    sampler = Sampler(CFG)
    kv = DictKV()
    box = (0.1, 0.1, 0.4, 0.6)
    out: list[Any] = []
    # the candidate first (frames 0-3), then production
    for i in range(4):
        cand = [det(box=box)] if i != 2 else [det(box=(0.6, 0.6, 0.9, 0.9))]
        out += sampler.candidate(kv, event("s", i, cand, model="yolo", version="c1"))  # type: ignore[arg-type]
    for i in range(4):
        out += sampler.production(kv, event("s", i, [det(box=box)]))  # type: ignore[arg-type]
    # production first now (a candidate was seen, so joins are on), then a disagreeing candidate
    out += sampler.production(kv, event("s", 4, [det(box=box), det("car", 0.8)]))  # type: ignore[arg-type]
    out += sampler.candidate(kv, event("s", 4, [det(box=box)], model="yolo", version="c1"))  # type: ignore[arg-type]
    assert ids(out) == ["s-2", "s-4"]
    assert out[0]["sample_id"] == "s-2@v1"  # the production model's version names the sample
    detail = out[1]["reasons"][0]["detail"]
    assert out[1]["reasons"][0]["kind"] == "SHADOW_DISAGREEMENT"
    assert detail == "candidate yolo@c1: agreement 0.50 (production 2 boxes, candidate 1)"


def test_drift_alarm_samples_its_window_from_the_reservoir() -> None:
    cfg = CFG.model_copy(update={"drift_bucket_s": 1.0, "drift_per_bucket": 2})
    sampler = Sampler(cfg)
    kv = DictKV()
    start, end = BASE_MS + 2000, BASE_MS + 5000
    alarms = DriftAlarms()
    alarm = alarm_of(drift_alert("d", start, end))
    assert alarm is not None
    alarms.add(alarm)
    out: list[Any] = []
    for i in range(80):
        out += sampler.production(kv, event("d", i, [det()]), alarms.of("d"))  # type: ignore[arg-type]
    kept = []
    for b in range(2, 5):  # buckets of the window: the two smallest ranks of each
        frames = [f"d-{i}" for i in range(80) if b * 1000 <= i * FRAME_MS < (b + 1) * 1000]
        kept += sorted(frames, key=priority)[:2]
    assert sorted(ids(out)) == sorted(sorted(kept, key=priority)[:3])
    assert all(s["reasons"][0]["kind"] == "DRIFT_WINDOW" for s in out)
    # seen again (a restart re-reads vigil.alerts): nothing more
    assert sampler.production(kv, event("d", 80, [det()]), alarms.of("d")) == []  # type: ignore[arg-type]


def test_a_later_reason_republishes_with_both_reasons_free_of_budget() -> None:
    cfg = CFG.model_copy(update={"budget_per_camera_hour": 1})
    sampler = Sampler(cfg)
    kv = DictKV()
    sampler.candidate(kv, event("m", 99, [], model="yolo", version="c1"))  # type: ignore[arg-type]
    first = sampler.production(kv, event("m", 0, [det(score=0.55)]))  # type: ignore[arg-type]
    again = sampler.candidate(kv, event("m", 0, [], model="yolo", version="c1"))  # type: ignore[arg-type]
    assert ids(first) == ids(again) == ["m-0"]
    assert [r["kind"] for r in again[0]["reasons"]] == ["UNCERTAIN", "SHADOW_DISAGREEMENT"]
    assert sampler.production(kv, event("m", 1, [det(score=0.4)])) == []  # type: ignore[arg-type]


def test_state_is_bounded_by_the_horizon() -> None:
    cfg = CFG.model_copy(update={"drift_horizon_s": 10.0, "drift_bucket_s": 1.0})
    sampler = Sampler(cfg)
    kv = DictKV()
    sampler.candidate(kv, event("h", 0, [], model="yolo", version="c1"))  # type: ignore[arg-type]
    for i in range(1000):  # 100 s of frames, each uncertain and waiting for a candidate
        sampler.production(kv, event("h", i, [det(score=0.4)]))  # type: ignore[arg-type]
    main = kv.get("main")
    assert len(main["pending"]) <= 101  # 10 s of frames
    assert len([k for k in kv.data if k.startswith("p:")]) == len(main["pending"])
    assert len(main["sampled"]) <= 101
    assert len(kv.get("res")) <= 12


def test_box_matching() -> None:
    a = {"x_min": 0.0, "y_min": 0.0, "x_max": 0.5, "y_max": 0.5}
    b = {"x_min": 0.25, "y_min": 0.0, "x_max": 0.75, "y_max": 0.5}
    assert iou(a, b) == 1 / 3
    one = [{"label": "person", "score": 0.9, "box": a}]
    assert agreement(one, one, 0.5) == 1.0
    assert agreement(one, [{"label": "car", "score": 0.9, "box": a}], 0.5) == 0.0
    assert agreement([], [], 0.5) == 1.0


def test_band_must_be_ordered() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="uncertain_low"):
        SamplingSettings(uncertain_low=0.7, uncertain_high=0.6)
