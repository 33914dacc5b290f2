"""Windowing, lateness, replay idempotence, references and alarm streaks, on plain dicts."""

from __future__ import annotations

import copy
from typing import Any

from streams.drift.engine import SEP, Closed, DriftEngine
from streams.drift.window import add_event, empty
from vigil.testing.samples import detection_event
from vigil_app.settings import DriftSettings

WINDOW_MS = 10_000
CFG = DriftSettings(window_s=10, allowed_lateness_s=2, reference_windows=2, min_samples=5)


def ev(ts: int, brightness: float = 0.5, camera: str = "cam-1", **stats: Any) -> dict[str, Any]:
    e = detection_event()
    e["camera_id"] = camera
    e["capture_ts_ms"] = ts
    e["frame_id"] = f"{camera}-{ts}"
    e["image_stats"] = {**e["image_stats"], "brightness": brightness, "dhash": ts, **stats}
    return e


class Run:
    def __init__(self, cfg: DriftSettings = CFG, **kw: Any) -> None:
        self.state: dict[str, Any] = {}
        self.engine = DriftEngine(cfg, self.state, clock=lambda: 1.0, **kw)
        self.offset = 0
        self.closed: list[Closed] = []

    def feed(self, events: list[dict[str, Any]]) -> list[Closed]:
        out = []
        for e in events:
            out += self.engine.process(e, self.offset)
            self.offset += 1
        self.closed += out
        return out


def frames(window: int, n: int = 10, **kw: Any) -> list[dict[str, Any]]:
    return [ev(window * WINDOW_MS + i * (WINDOW_MS // n), **kw) for i in range(n)]


def row(closed: Closed, feature: str, statistic: str = "RATE") -> dict[str, Any]:
    return next(r for r in closed.stats if r["feature"] == feature and r["statistic"] == statistic)


def test_out_of_order_within_lateness_lands_in_its_window_and_later_ones_count_as_late() -> None:
    run = Run()
    run.feed([ev(1000), ev(5000), ev(10_500)])  # the third opens window 1
    assert run.feed([ev(9000)]) == []  # out of order, window 0 is still open (lateness 2 s)
    closed = run.feed([ev(12_000)])  # watermark 12 s = end of window 0 + lateness: closes it
    assert [c.window_start_ms for c in closed] == [0]
    assert closed[0].frames == 3
    assert run.feed([ev(3000), ev(8000)]) == []  # too late for window 0: counted, not dropped
    assert run.state[f"cam-1{SEP}{detection_event()['model_version']}"]["late_total"] == 2
    closed = run.feed([ev(25_000)])
    assert [c.window_start_ms for c in closed] == [10_000]
    assert closed[0].frames == 2
    assert row(closed[0], "late_events")["value"] == 2.0  # reported with the next window


def test_replayed_offsets_after_a_crash_are_not_counted_twice() -> None:
    run = Run()
    events = frames(0) + frames(1)
    run.feed(events[:9])
    changelog = copy.deepcopy(run.state)  # what reached the changelog before the crash
    run.feed(events[9:15])
    # the crash: the table recovers the changelog (offsets 0..8 applied), and the source
    # resumes from the last committed offset, 5, so 5..8 are replayed once more
    run.state.clear()
    run.state.update(changelog)
    run.offset = 5
    run.feed(events[5:])
    run.feed([ev(40_000)])
    by_start = {c.window_start_ms: c.frames for c in run.closed}
    assert by_start == {0: 10, 10_000: 10}


def test_one_drifted_window_does_not_alarm_two_in_a_row_do() -> None:
    run = Run()
    run.feed(frames(0) + frames(1))  # the reference
    run.feed(frames(2, brightness=0.9))  # closes window 1 (reference complete)
    run.feed(frames(3))  # closes window 2: drifted once
    run.feed(frames(4, brightness=0.9))  # closes 3: back to normal
    run.feed(frames(5, brightness=0.9))  # closes 4: drifted once more
    run.feed([ev(6 * WINDOW_MS + 5000)])  # closes 5: twice in a row
    alarms = {c.window_start_ms // WINDOW_MS: c.alarmed_features for c in run.closed}
    assert alarms[0] == alarms[1] == set()
    assert "brightness" not in alarms[2] | alarms[3] | alarms[4]
    assert "brightness" in alarms[5]
    alert = next(a for c in run.closed for a in c.alerts if a["rule_id"] == "drift:brightness")
    assert alert["incident_id"].endswith(f":{4 * WINDOW_MS}")  # the streak's first window
    assert alert["severity"] == "MEDIUM"
    assert row(run.closed[2], "brightness", "PSI")["alarm"] is False


def test_data_quality_alarms_fire_on_the_first_bad_window() -> None:
    run = Run()
    run.feed(frames(0) + frames(1) + frames(2))
    run.feed([*frames(3, brightness=0.01), ev(4 * WINDOW_MS + 3000)])
    by_start = {c.window_start_ms // WINDOW_MS: c for c in run.closed}
    assert by_start[2].alarmed_features == set()
    assert "blackout" in by_start[3].alarmed_features
    alert = next(a for a in by_start[3].alerts if a["rule_id"] == "drift:blackout")
    assert alert["severity"] == "HIGH"
    assert alert["details"]["consecutive_windows"] == "1"


def test_a_pinned_reference_replaces_the_automatic_one() -> None:
    pinned = empty()
    for e in frames(0, brightness=0.1):
        add_event(pinned, e)
    run = Run(pinned=lambda camera, version: pinned if camera == "cam-1" else None)
    run.feed(frames(0) + frames(1) + frames(2) + [ev(3 * WINDOW_MS + 3000)])
    assert [c.reference for c in run.closed] == ["pinned"] * 3
    assert all("brightness" in c.alarmed_features for c in run.closed[1:])
    assert all(st["ref"] is None for st in run.state.values())


def test_automatic_reference_is_the_first_windows_and_is_announced() -> None:
    seen: list[tuple[str, list[int]]] = []
    run = Run(on_reference=lambda cam, version, ref: seen.append((cam, ref["windows"])))
    run.feed(frames(0) + frames(1) + frames(2) + [ev(3 * WINDOW_MS + 3000)])
    assert [c.reference for c in run.closed] == ["building", "building", "auto"]
    assert seen == [("cam-1", [0, WINDOW_MS])]
    ref = next(iter(run.state.values()))["ref"]
    assert ref["summary"]["frames"] == 20


def test_events_without_image_statistics_skip_those_features_never_crash() -> None:
    run = Run()
    broken = [
        ev(WINDOW_MS * 3 + i * 100, brightness=0.0, contrast=0.0, sharpness=0.0, dhash=None)
        for i in range(10)
    ]
    run.feed(frames(0) + frames(1) + frames(2) + broken + [ev(5 * WINDOW_MS)])
    window = next(c for c in run.closed if c.window_start_ms == 3 * WINDOW_MS)
    assert row(window, "missing_image_stats")["value"] == 1.0
    features = {r["feature"] for r in window.stats}
    assert {"brightness", "contrast", "sharpness", "blackout", "frozen_feed"}.isdisjoint(features)
    assert "class_mix" in features
    assert not window.alerts


def test_cameras_and_model_versions_are_windowed_apart() -> None:
    run = Run()
    other = copy.deepcopy(frames(0, camera="cam-2"))
    for e in other:
        e["model_version"] = "v2"
    run.feed(frames(0) + other + [ev(13_000), ev(13_000, camera="cam-2")])
    assert len(run.closed) == 1
    assert run.closed[0].camera_id == "cam-1"
    open_windows = {k: sorted(st["windows"]) for k, st in run.state.items()}
    version = detection_event()["model_version"]
    assert open_windows == {
        f"cam-1{SEP}{version}": ["10000"],
        f"cam-2{SEP}v2": ["0"],
        f"cam-2{SEP}{version}": ["10000"],
    }


def test_latest_statistics_and_alarms_are_exported_as_metrics() -> None:
    from prometheus_client import REGISTRY

    run = Run()
    run.feed(frames(0, camera="cam-m") + frames(1, camera="cam-m") + frames(2, camera="cam-m"))
    run.feed(
        [*frames(3, brightness=0.01, camera="cam-m"), ev(4 * WINDOW_MS + 3000, camera="cam-m")]
    )
    version = detection_event()["model_version"]
    labels = {"camera": "cam-m", "model_version": version, "feature": "brightness"}
    psi = REGISTRY.get_sample_value("vigil_drift_statistic", {**labels, "statistic": "PSI"})
    closed = next(c for c in run.closed if c.window_start_ms == 3 * WINDOW_MS)
    assert psi == row(closed, "brightness", "PSI")["value"]
    alarms = REGISTRY.get_sample_value(
        "vigil_drift_alarms_total", {"camera": "cam-m", "feature": "blackout"}
    )
    assert alarms == 1.0
