"""Each rule and statistic against a reference, on hand-made summaries."""

from __future__ import annotations

import copy
from typing import Any

from streams.drift.compare import Kind, compare, threshold
from streams.drift.window import Summary, add_event, empty
from vigil.testing.samples import detection_event
from vigil_app.settings import DriftSettings

CFG = DriftSettings(min_samples=10)


def summary(n: int = 40, **change: Any) -> Summary:
    s = empty()
    for i in range(n):
        e = copy.deepcopy(detection_event())
        e["image_stats"] = {
            "brightness": 0.4 + (i % 10) / 50,
            "contrast": 0.2,
            "sharpness": 400.0 + 10 * (i % 7),
            "dhash": i,
        }
        if "embedding" in change:
            e["detections"][0]["embedding"] = change["embedding"]
        if change.get("empty"):
            e["detections"] = []
        if change.get("frozen"):
            e["image_stats"]["dhash"] = 7
        if "sharpness" in change:
            e["image_stats"]["sharpness"] = change["sharpness"]
        add_event(s, e)
    return s


def alarms(window: Summary, reference: Summary, cfg: DriftSettings = CFG) -> set[str]:
    return {s.feature for s in compare(window, reference, cfg) if s.exceeded}


def test_the_same_distribution_raises_nothing() -> None:
    assert alarms(summary(), summary()) == set()


def test_each_data_quality_rule() -> None:
    ref = summary()
    assert "lens_blur" in alarms(summary(sharpness=20.0), ref)
    assert "frozen_feed" in alarms(summary(frozen=True), ref)
    assert "detection_loss" in alarms(summary(empty=True), ref)
    kinds = {s.feature: s.kind for s in compare(summary(frozen=True), ref, CFG)}
    assert kinds["frozen_feed"] is Kind.QUALITY
    assert kinds["empty_frames"] is Kind.INFO


def test_embedding_centroid_distance() -> None:
    ref = summary(embedding=[1.0, 0.0, 0.0, 0.0])
    same = compare(summary(embedding=[1.0, 0.0, 0.0, 0.0]), ref, CFG)
    turned = compare(summary(embedding=[0.0, 1.0, 0.0, 0.0]), ref, CFG)
    value = {s.feature: s.value for s in same}["embedding_centroid"]
    assert value < 1e-9
    moved = next(s for s in turned if s.feature == "embedding_centroid")
    assert moved.statistic == "DISTANCE"
    assert moved.exceeded
    no_faces = compare(summary(embedding=None), summary(embedding=None), CFG)
    assert "embedding_centroid" not in {s.feature for s in no_faces}


def test_thresholds_override_per_feature_and_statistic() -> None:
    cfg = DriftSettings(thresholds={"class_mix:PSI": 0.5, "sharpness": 0.4, "confidence:KS": 0.1})
    assert threshold(cfg, "class_mix", "PSI") == 0.5
    assert threshold(cfg, "class_mix", "JS") == cfg.js_threshold
    assert threshold(cfg, "sharpness", "KS") == 0.4
    assert threshold(cfg, "confidence:person", "KS") == 0.1  # a per-label feature inherits
    assert threshold(cfg, "brightness", "PSI") == 0.2


def test_too_few_samples_skip_a_feature() -> None:
    stats = compare(summary(n=5), summary(), CFG)
    assert "brightness" not in {s.feature for s in stats}
