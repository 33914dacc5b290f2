"""Rules on motion-gated streams: carried events (the worker's ``carried_from``) repeat the last
detected boxes, and the rules must see a standing person as they do on fully detected frames."""

from __future__ import annotations

from typing import Any

from streams.alerting.rules import parse_rules
from tests.streams.alerting.synth import event, person
from tests.streams.alerting.test_engine import LEFT_HALF, fired, run


def standing(frames: int, detect_every: int) -> list[dict[str, Any]]:
    """A person standing still (a little detector jitter), detected every ``detect_every``
    frames and carried between, as the motion gate does with max_skip_s."""
    out: list[dict[str, Any]] = []
    source: dict[str, Any] = {}
    for i in range(frames):
        if i % detect_every == 0:
            ev = event("c", i, [person(0.2 + 0.002 * (i % 3), 0.8)])
            ev["carried_from"] = None
            source = ev
        else:
            ev = event("c", i, source["detections"])
            ev["carried_from"] = source["frame_id"]
        out.append(ev)
    return out


def test_dwell_and_zone_fire_on_carried_frames_as_on_detected_ones() -> None:
    rules = parse_rules(
        f"rules: [{{id: d, trigger: dwell, dwell_s: 5, zone: {LEFT_HALF}}}, "
        f"{{id: z, zone: {LEFT_HALF}}}]"
    )
    full, _ = run(rules, standing(80, 1))  # 10 fps: 8 s in the zone
    gated, _ = run(rules, standing(80, 20))  # detected every 2 s, 19 of 20 carried
    assert fired(full) == [(0, "z"), (50, "d")]
    assert fired(gated) == fired(full)


def test_a_carried_box_never_crosses_a_line_by_itself() -> None:
    rules = parse_rules(
        "rules: [{id: l, trigger: line, line: {a: [0.201, 0], b: [0.201, 1], direction: any}}]"
    )
    frames = standing(60, 20)  # the jitter straddles x = 0.201 on detected frames
    outs, _ = run(rules, frames)
    assert all(frames[i]["carried_from"] is None for i, _ in fired(outs))
