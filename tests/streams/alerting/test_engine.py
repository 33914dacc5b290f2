"""Rule semantics, incidents and POI confirmation on synthetic streams (pure logic; the same
scenarios run through Kafka and the app in test_app.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from streams.alerting.camera_state import CameraState
from streams.alerting.engine import Outcome, process
from streams.alerting.rules import RuleSet, parse_rules
from tests.streams.alerting.synth import event, person
from vigil.watchlist import Watchlist

LEFT_HALF = "[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]"


def run(
    rules: RuleSet,
    frames: list[dict[str, Any]],
    watchlist: Watchlist | None = None,
    state: CameraState | None = None,
) -> tuple[list[Outcome], CameraState]:
    state = state or CameraState()
    outs = []
    for ev in frames:
        outs.append(process(ev, state, rules, watchlist))
        state = CameraState.loads(state.dumps())  # every frame through the table's encoding
    return outs, state


def fired(outs: list[Outcome]) -> list[tuple[int, str]]:
    return [(i, n.rule_id) for i, o in enumerate(outs) for n in o.notifications]


def test_zone_by_bottom_centre() -> None:
    rules = parse_rules(f"rules: [{{id: z, zone: {LEFT_HALF}}}]")
    # head and body inside the zone, feet outside (below is fine; the bottom-centre decides)
    outside = [event("c", 0, [person(0.6, 0.9, w=0.3)])]  # box spans 0.45..0.75, centre 0.6
    assert fired(run(rules, outside)[0]) == []
    inside = [event("c", 0, [person(0.45, 0.9, w=0.3)])]  # spans 0.3..0.6, centre 0.45
    assert fired(run(rules, inside)[0]) == [(0, "z")]


def test_labels_score_and_cameras_select() -> None:
    rules = parse_rules("rules: [{id: z, labels: [car], min_score: 0.6, cameras: [a]}]")
    frames = [
        event("a", 0, [person(0.2, 0.5)]),  # a person: wrong label
        event("a", 1, [person(0.2, 0.5, label="car", score=0.5)]),  # too weak
        event("b", 2, [person(0.2, 0.5, label="car")]),  # other camera
        event("a", 3, [person(0.2, 0.5, label="car")]),
    ]
    outs = [process(ev, CameraState(), rules) for ev in frames]
    assert fired(outs) == [(3, "z")]


def walk(camera: str, xs: list[float], start: int = 0) -> list[dict[str, Any]]:
    return [event(camera, start + i, [person(x, 0.8)]) for i, x in enumerate(xs)]


def test_line_crossing_one_direction_only() -> None:
    rules = parse_rules(
        "rules: [{id: l, trigger: line, line: {a: [0.5, 0], b: [0.5, 1], "
        "direction: left_to_right}}]"
    )
    right = [0.31 + 0.02 * i for i in range(20)]  # 0.31 -> 0.69
    outs, _ = run(rules, walk("c", right))
    assert [r for _, r in fired(outs)] == ["l"]
    assert fired(outs)[0][0] == 10  # the frame where the feet pass x = 0.5
    outs, _ = run(rules, walk("c", right[::-1]))  # walking back: wrong direction
    assert fired(outs) == []


def test_dwell_fires_after_the_time_and_not_before() -> None:
    rules = parse_rules(f"rules: [{{id: d, trigger: dwell, dwell_s: 5, zone: {LEFT_HALF}}}]")
    frames = [event("c", i, [person(0.2, 0.8)]) for i in range(80)]  # 10 fps: 8 s in the zone
    outs, _ = run(rules, frames)
    assert fired(outs) == [(50, "d")]  # exactly 5.0 s after entering, once
    # in for ~4 s, walks out, stays out 1 s, walks back in for ~4 s: never 5 s in a row
    out_walk = [0.2 + 0.05 * i for i in range(1, 13)]  # 0.25 -> 0.80, 10 frames inside
    xs = [0.2] * 30 + out_walk + [0.8] * 10 + out_walk[::-1] + [0.2] * 30
    outs, _ = run(rules, walk("c", xs))
    assert fired(outs) == []
    # the same walk with a longer first stay fires on the first stay only
    xs = [0.2] * 50 + out_walk + [0.8] * 10 + out_walk[::-1] + [0.2] * 30
    outs, _ = run(rules, walk("c", xs))
    assert fired(outs) == [(50, "d")]


def test_count_threshold() -> None:
    rules = parse_rules(f"rules: [{{id: n, trigger: count, count: 3, zone: {LEFT_HALF}}}]")
    two = [person(0.1, 0.8), person(0.3, 0.8), person(0.8, 0.8)]  # third is outside
    three = [person(0.1, 0.8), person(0.3, 0.8), person(0.45, 0.8)]
    outs, _ = run(rules, [event("c", 0, two), event("c", 1, three), event("c", 2, three)])
    assert fired(outs) == [(1, "n")]
    assert outs[1].notifications[0].details == (("count", "3"),)


def test_schedule_across_midnight() -> None:
    rules = parse_rules(
        "rules: [{id: s, schedule: {timezone: America/New_York, "
        "windows: [{start: '23:00', end: '01:00'}]}, quiet_s: 1}]"
    )
    # T0 is 2026-01-01 00:00 UTC = 2025-12-31 19:00 in New York (UTC-5)
    hour = 3_600_000
    from tests.streams.alerting.synth import T0

    times = {
        "18:59": T0 - hour // 60,
        "23:30": T0 + 4 * hour + 30 * 60_000,
        "00:30": T0 + 5 * hour + 30 * 60_000,
        "01:00": T0 + 6 * hour,
    }
    outs = [
        process(event("c", i, [person(0.2, 0.8)], ts_ms=t), CameraState(), rules)
        for i, t in enumerate(times.values())
    ]
    assert [bool(o.notifications) for o in outs] == [False, True, True, False]


def test_no_alert_storm_and_a_second_incident_after_the_quiet_period() -> None:
    rules = parse_rules(f"rules: [{{id: z, zone: {LEFT_HALF}, quiet_s: 5}}]")
    stay = [event("c", i, [person(0.2, 0.8)]) for i in range(200)]
    away = [event("c", 200 + i, []) for i in range(30)]  # 3 s away: within the quiet period
    back = [event("c", 230 + i, [person(0.2, 0.8)]) for i in range(20)]
    gone = [event("c", 250 + i, []) for i in range(60)]  # 6 s: the incident closes
    again = [event("c", 310 + i, [person(0.25, 0.8)]) for i in range(20)]
    outs, state = run(rules, stay + away + back + gone + again)
    assert fired(outs) == [(0, "z"), (310, "z")]
    assert sum(o.closed for o in outs) == 1
    assert len(state.incidents) == 1


def test_per_track_incidents_and_cooldown() -> None:
    rules = parse_rules(
        f"rules: [{{id: z, zone: {LEFT_HALF}, incident_per: track, cooldown_s: 10, quiet_s: 1}}]"
    )
    a, b = person(0.1, 0.8), person(0.35, 0.8)
    frames = [event("c", 0, [a])] + [event("c", i, [a, b]) for i in range(1, 30)]
    frames += [event("c", 30 + i, []) for i in range(20)]  # both gone, incidents close
    frames += [event("c", 110 + i, [a]) for i in range(3)]  # 11 s after the first alert
    outs, _ = run(rules, frames)
    # b opens its own incident at frame 1 but within the cooldown: silent
    assert fired(outs) == [(0, "z"), (50, "z")]
    assert sum(o.suppressed for o in outs) == 1


def test_state_round_trip_resumes_without_realerting() -> None:
    rules = parse_rules(f"rules: [{{id: z, zone: {LEFT_HALF}, quiet_s: 5}}]")
    frames = [event("c", i, [person(0.2, 0.8)]) for i in range(100)]
    outs, state = run(rules, frames[:50])
    restored = CameraState.loads(state.dumps())
    outs2, _ = run(rules, frames[50:], state=restored)
    assert fired(outs) == [(0, "z")]
    assert fired(outs2) == []


def unit(v: np.ndarray) -> list[float]:
    return [float(x) for x in v / np.linalg.norm(v)]


def test_poi_confirmed_in_k_of_n_open_set_and_forgotten() -> None:
    rng = np.random.default_rng(7)
    him, stranger = rng.normal(size=64), rng.normal(size=64)
    watch = Watchlist()
    watch.apply("man", {"embeddings": [unit(him)], "embedding_model": "m"})
    rules = parse_rules("poi: {confirm_k: 3, confirm_n: 5, threshold: 0.6, near_miss: 0.3}")
    noisy = [unit(him + rng.normal(scale=0.3, size=64)) for _ in range(6)]

    def face(e: list[float]) -> dict[str, Any]:
        return person(0.5, 0.5, label="face", w=0.2, h=0.2, embedding=e)

    frames = [event("c", i, [face(e)]) for i, e in enumerate(noisy)]
    outs, _ = run(rules, frames, watch)
    assert fired(outs) == [(2, "poi")]  # third confirming frame, once
    note = outs[2].notifications[0]
    assert note.poi_id == "man"
    assert note.similarity is not None
    assert note.similarity > 0.6
    assert [a.decision for a in outs[0].audit] == ["match"]
    # a stranger never matches: the open-set threshold says unknown
    others = [
        event("c", i, [face(unit(stranger + rng.normal(scale=0.1, size=64)))]) for i in range(10)
    ]
    outs, _ = run(rules, others, watch)
    assert fired(outs) == []
    # a near miss is audited, not alerted
    h = np.asarray(unit(him))
    ortho = stranger - np.dot(stranger, h) * h
    near = unit(0.45 * h + np.sqrt(1 - 0.45**2) * np.asarray(unit(ortho)))
    outs, _ = run(rules, [event("c", i, [face(near)]) for i in range(5)], watch)
    assert fired(outs) == []
    assert {a.decision for o in outs for a in o.audit} == {"near_miss"}
    # tiny faces fail the quality gate (20 px at 640x480 needs a box of ~0.04)
    small = [
        event("c", i, [person(0.5, 0.5, label="face", w=0.02, h=0.02, embedding=noisy[0])])
        for i in range(5)
    ]
    outs, _ = run(rules, small, watch)
    assert fired(outs) == []
    assert sum(o.poi_rejected for o in outs) == 5
    # removed: forgotten at once
    watch.apply("man", None)
    outs, _ = run(rules, frames, watch)
    assert fired(outs) == []
    assert len(watch) == 0


def test_a_future_capture_time_never_pushes_the_cooldown_into_the_future() -> None:
    """One frame from a camera whose clock is a day ahead fires (it is a real detection), but
    the rule's cooldown and incidents run on the clamped time: later frames keep alerting."""
    rules = parse_rules("rules: [{id: z, cooldown_s: 10, quiet_s: 1}]")
    day = 86_400_000
    frames = [event("c", 0, [person(0.2, 0.5)])]
    bad = event("c", 1, [person(0.2, 0.5)])
    bad["capture_ts_ms"] += day  # inference_ts_ms stays the worker's clock
    frames.append(bad)
    # leaves, then comes back after cooldown and quiet time, on the camera's right clock
    frames += [event("c", 30 + i, []) for i in range(5)]
    frames += [event("c", 300 + i, [person(0.2, 0.5)]) for i in range(3)]
    outs, state = run(rules, frames)
    assert fired(outs) == [(0, "z"), (7, "z")]
    assert state.last_notified["z"] <= frames[-1]["inference_ts_ms"]
    assert state.clock <= frames[-1]["inference_ts_ms"]


def test_a_past_capture_time_does_not_rewind_the_camera() -> None:
    """A frame stamped 1970 neither reopens incidents in the past nor starts a dwell timer
    that makes the next frame look like an hour of loitering."""
    rules = parse_rules(f"rules: [{{id: d, trigger: dwell, zone: {LEFT_HALF}, dwell_s: 60}}]")
    frames = [event("c", i, [person(0.2, 0.8)]) for i in range(3)]
    old = event("c", 3, [person(0.2, 0.8)], ts_ms=0)
    frames.append(old)
    frames += [event("c", 4 + i, [person(0.2, 0.8)]) for i in range(3)]
    outs, state = run(rules, frames)
    assert fired(outs) == []  # under a second in the zone, whatever the clocks said
    assert state.clock == frames[-1]["capture_ts_ms"]
    cooldown = parse_rules("rules: [{id: z, cooldown_s: 10, quiet_s: 1}]")
    real = event("c", 0, [person(0.2, 0.5)])
    outs, state = run(cooldown, [old, real])
    assert fired(outs) == [(0, "z"), (1, "z")]  # a 1970 cooldown silences nothing now
    assert state.last_notified["z"] == real["capture_ts_ms"]
