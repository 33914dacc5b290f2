"""Window summaries: what each event adds, bad input counted not crashed, merge is exact."""

from __future__ import annotations

import copy
import math
from typing import Any

from streams.drift.window import (
    NUMERIC,
    add_event,
    empty,
    inferred_frames,
    merge,
    usable_image_stats,
)
from vigil.testing.samples import detection_event


def _event(**stats: Any) -> dict[str, Any]:
    event = detection_event()
    event["image_stats"] = {**event["image_stats"], **stats}
    return event


def test_one_event_fills_every_feature() -> None:
    s = empty()
    add_event(s, detection_event())
    assert (s["frames"], s["detections"], s["empty_frames"]) == (1, 2, 0)
    assert s["labels"] == {"person": 1, "car": 1}
    assert s["per_frame"][2] == 1
    assert sum(s["hist"]["confidence"]) == 2
    assert sum(s["hist"]["box_area"]) == 2
    assert s["hist"]["box_area"][NUMERIC["box_area"].index(1.0)] == 1  # the full-frame car
    assert sum(s["hist"]["brightness"]) == 1
    assert s["emb_n"] == 1
    assert s["emb_sum"] == [0.5, -0.5, 0.25, 0.0]
    assert (s["stats_frames"], s["missing_stats"], s["missing_dhash"]) == (1, 0, 0)


def test_missing_or_zeroed_image_stats_are_skipped_and_counted() -> None:
    s = empty()
    add_event(s, _event(brightness=0.0, contrast=0.0, sharpness=0.0, dhash=None))
    add_event(s, _event(dhash=None))
    add_event(s, _event(brightness=math.nan))
    add_event(s, _event(brightness=7.0))
    assert s["frames"] == 4
    assert s["missing_stats"] == 3  # zeroed without dhash, NaN, out of range
    assert s["stats_frames"] == 1
    assert s["missing_dhash"] == 2
    assert sum(s["hist"]["brightness"]) == 1
    # a real black frame (dhash 0) is data, not a missing value
    assert usable_image_stats({"brightness": 0.0, "contrast": 0.0, "sharpness": 0.0, "dhash": 0})
    assert not usable_image_stats(None)


def test_bad_detections_are_counted_not_binned() -> None:
    event = detection_event()
    event["detections"][0]["score"] = math.inf
    s = empty()
    add_event(s, event)
    assert s["invalid_detections"] == 1
    assert sum(s["hist"]["confidence"]) == 1


def test_identical_consecutive_dhashes_count_as_frozen_pairs() -> None:
    s = empty()
    for code in (5, 5, 5, 6):
        add_event(s, _event(dhash=code))
    assert (s["hash_pairs"], s["frozen_pairs"]) == (3, 2)


def test_merge_equals_adding_every_event_to_one_summary() -> None:
    events = [detection_event(), _event(brightness=0.1, dhash=1), _event(dhash=None)]
    events[2]["detections"] = []
    whole = empty()
    for e in events:
        add_event(whole, e)
    a, b = empty(), empty()
    add_event(a, events[0])
    for e in events[1:]:
        add_event(b, e)
    merged = merge(copy.deepcopy(a), b)
    for key in ("frames", "detections", "empty_frames", "labels", "per_frame", "hist", "emb_n"):
        assert merged[key] == whole[key], key


def test_a_carried_event_adds_its_image_statistics_but_no_detections() -> None:
    s = empty()
    add_event(s, detection_event())
    carried = _event(brightness=0.9, dhash=99)
    carried["carried_from"] = "cam-1-7"
    add_event(s, carried)
    add_event(s, carried)
    assert (s["frames"], s["carried_frames"], inferred_frames(s)) == (3, 2, 1)
    assert (s["detections"], s["empty_frames"], s["per_frame"][2]) == (2, 0, 1)
    assert s["labels"] == {"person": 1, "car": 1}
    assert sum(s["hist"]["confidence"]) == 2  # the model's own two, not their copies
    assert (s["stats_frames"], sum(s["hist"]["brightness"])) == (3, 3)
    assert s["hash_pairs"] == 2


def test_summaries_kept_before_motion_gating_merge_with_new_ones() -> None:
    old = empty()
    add_event(old, detection_event())
    del old["carried_frames"]  # as a changelog written before the field existed holds it
    new = empty()
    carried = detection_event()
    carried["carried_from"] = "x"
    add_event(new, carried)
    merged = merge(old, new)
    assert (merged["frames"], merged["carried_frames"], inferred_frames(merged)) == (2, 1, 1)
