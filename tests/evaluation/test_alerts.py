"""The alerting rules applied offline to two models' frames: what the candidate adds or
removes, with alerts that only moved in time paired up."""

from __future__ import annotations

from evaluation.alerts import alerts_of, diff_alerts
from evaluation.matching import Det
from evaluation.source import Frame
from streams.alerting.rules import parse_rules

RULES = parse_rules(
    """
rules:
  - id: left-zone
    labels: [person]
    min_score: 0.5
    zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
"""
)
LEFT = (0.1, 0.2, 0.3, 0.6)
RIGHT = (0.7, 0.2, 0.9, 0.6)


def _frames(camera: str, boxes: list[list[Det]]) -> dict[str, Frame]:
    out = {}
    for i, dets in enumerate(boxes):
        fid = f"{camera}-{i}"
        out[fid] = Frame(fid, camera, 1_000_000 + i * 200, 0, 320, 240, ("t", 0, i), dets)
    return out


def test_alert_diff() -> None:
    person = Det("person", 0.9, LEFT)
    base = {
        **_frames("a", [[person], [person], []]),
        **_frames("b", [[Det("person", 0.9, RIGHT)], [person]]),
    }
    cand = {
        **_frames("a", [[person], [person], []]),  # same alert, same id
        **_frames("b", [[Det("person", 0.9, LEFT)], [person]]),  # fires one frame earlier
        **_frames("c", [[person]]),  # a new one
    }
    b, c = alerts_of(base, RULES), alerts_of(cand, RULES)
    assert [(a.camera_id, a.frame_id) for a in b] == [("a", "a-0"), ("b", "b-1")]
    diff = diff_alerts(b, c)
    assert (diff.baseline, diff.candidate, diff.common) == (2, 3, 2)
    assert [a.camera_id for a in diff.added] == ["c"]
    assert diff.removed == []
    assert diff_alerts(c, b).removed[0].camera_id == "c"
