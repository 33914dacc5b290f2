"""``vigil drift baseline``: pinned from a replay of the detections topic over a time range,
stored durably, shown, and used as the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from streams.drift.baseline import Baseline, BaselineStore
from streams.drift.engine import DriftEngine
from streams.drift.window import empty
from tests.streams.drift import helpers as h
from vigil.testing.samples import detection_event
from vigil_app.cli import app
from vigil_app.settings import VigilSettings


def _event(camera: str, ts: int, version: str, brightness: float) -> dict[str, Any]:
    e = detection_event()
    e.update(camera_id=camera, capture_ts_ms=ts, frame_id=f"{camera}-{ts}", model_version=version)
    e["image_stats"] = {**e["image_stats"], "brightness": brightness}
    return e


def _env(settings: VigilSettings) -> dict[str, str]:
    return h.DriftProcess(settings, Path("/dev/null")).env()


def test_baseline_pins_the_time_range_per_model_version_and_shows_it(
    settings: VigilSettings,
) -> None:
    h.make_topics(settings)
    events = [_event("cam-b", ts, "v1", 0.25) for ts in range(1000, 21000, 1000)]  # 20
    events += [_event("cam-b", ts, "v2", 0.75) for ts in range(5000, 10000, 1000)]  # 5
    events += [_event("cam-b", ts, "v1", 0.9) for ts in (500, 30_000)]  # outside the range
    events += [_event("other", ts, "v1", 0.1) for ts in range(1000, 5000, 1000)]
    h.produce(settings, events)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["drift", "baseline", "--camera", "cam-b", "--from", "1000", "--to", "1970-01-01T00:00:21"],
        env=_env(settings),
    )
    assert result.exit_code == 0, result.output
    store = BaselineStore.of(settings)
    pinned = {b.model_version: b for b in store.all()}
    assert set(pinned) == {"v1", "v2"}
    assert pinned["v1"].summary["frames"] == 20
    assert pinned["v2"].summary["frames"] == 5
    assert (pinned["v1"].from_ms, pinned["v1"].to_ms) == (1000, 21000)
    assert store.pinned("cam-b", "v1") == pinned["v1"].summary
    assert store.pinned("other", "v1") is None

    shown = runner.invoke(app, ["drift", "baseline", "--show"], env=_env(settings))
    assert shown.exit_code == 0, shown.output
    assert "cam-b" in shown.output
    assert "pinned" in shown.output

    nothing = runner.invoke(
        app,
        ["drift", "baseline", "--camera", "nobody", "--from", "0", "--to", "99999"],
        env=_env(settings),
    )
    assert nothing.exit_code == 1
    assert "no detections" in nothing.output


def test_baseline_needs_a_range(settings: VigilSettings) -> None:
    result = CliRunner().invoke(app, ["drift", "baseline", "--camera", "c"], env=_env(settings))
    assert result.exit_code == 2
    assert "--from" in result.output


def test_a_changed_pinned_file_is_reread_and_drives_the_engine(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    dark = empty()
    dark["frames"] = 7
    store.save(Baseline("c", "m", "v", 0, 1, "pinned", 0, dark))
    assert store.pinned("c", "v") == dark
    other = {**dark, "frames": 9}
    path = store.save(Baseline("c", "m", "v", 0, 1, "pinned", 0, other))
    import os

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert store.pinned("c", "v")["frames"] == 9  # type: ignore[index]
    engine = DriftEngine(h.DriftSettings(), {}, pinned=store.pinned)
    assert engine.pinned("c", "v") is not None
