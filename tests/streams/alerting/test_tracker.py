"""The tracker: ids follow objects, labels never mix, weak detections only continue tracks
(ByteTrack), and tracks unseen for max_age are dropped."""

from __future__ import annotations

from streams.alerting.geometry import in_polygon, iou, segments_cross
from streams.alerting.rules import Tracking
from streams.alerting.tracker import Observation, Tracker

CFG = Tracking(iou_threshold=0.3, max_age_s=1.0, high_score=0.5, low_score=0.1)


def obs(i: int, x: float, score: float = 0.9, label: str = "person") -> Observation:
    return Observation(i, label, score, (x, 0.2, x + 0.2, 0.8))


def test_ids_follow_objects_and_labels_do_not_mix() -> None:
    t = Tracker()
    first = t.update([obs(0, 0.1), obs(1, 0.6), obs(2, 0.1, label="dog")], 0, CFG)
    ids = {i: tr.id for i, tr in first.items()}
    assert len(set(ids.values())) == 3
    # both people move a little and swap order in the list; the dog stays
    second = t.update([obs(0, 0.62), obs(1, 0.12), obs(2, 0.1, label="dog")], 100, CFG)
    assert second[0].id == ids[1]
    assert second[1].id == ids[0]
    assert second[2].id == ids[2]
    assert second[1].prev_point == (0.2, 0.8)


def test_low_score_continues_but_never_starts_a_track() -> None:
    t = Tracker()
    (start,) = t.update([obs(0, 0.1)], 0, CFG).values()
    weak = t.update([obs(0, 0.11, score=0.3), obs(1, 0.7, score=0.3)], 100, CFG)
    assert weak[0].id == start.id  # occluded: the weak box keeps the track
    assert 1 not in weak  # a weak box alone starts nothing
    assert t.update([obs(0, 0.1, score=0.05)], 200, CFG) == {}  # below low_score: ignored


def test_max_age_drops_tracks_and_state_round_trips() -> None:
    t = Tracker()
    (a,) = t.update([obs(0, 0.1)], 0, CFG).values()
    t.update([], 900, CFG)
    restored = Tracker.from_dict(t.to_dict())
    assert restored.update([obs(0, 0.1)], 1000, CFG)[0].id == a.id  # 1.0 s: still alive
    restored.update([], 2100, CFG)
    assert restored.update([obs(0, 0.1)], 2100, CFG)[0].id != a.id  # 1.1 s unseen: new track


def test_geometry() -> None:
    square = [(0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5)]
    assert in_polygon((0.25, 0.25), square)
    assert not in_polygon((0.75, 0.25), square)
    triangle = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert in_polygon((0.2, 0.2), triangle)
    assert not in_polygon((0.6, 0.6), triangle)
    assert segments_cross((0.4, 0.5), (0.6, 0.5), (0.5, 0.0), (0.5, 1.0))
    assert not segments_cross((0.4, 0.5), (0.45, 0.5), (0.5, 0.0), (0.5, 1.0))
    # passing beside the end of a short tripwire is not a crossing
    assert not segments_cross((0.4, 0.9), (0.6, 0.9), (0.5, 0.0), (0.5, 0.5))
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert abs(iou((0, 0, 2, 1), (1, 0, 3, 1)) - 1 / 3) < 1e-9
