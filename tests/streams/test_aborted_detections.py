"""Detections of an aborted worker transaction (every worker crash leaves one) never reach
``vigil.alerts`` or ``vigil.drift``: neither those of a camera that has nothing else, nor a
first copy of frames whose committed copy follows at new offsets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.contracts import serde_for
from streams.alerting.app import app_id as alerting_group
from streams.drift.app import app_id as drift_group
from tests.streams.alerting.synth import T0, event, person
from tests.streams.drift import helpers as h
from vigil.testing import (
    AlertsProcess,
    provision,
    read_to_end,
    wait_committed,
    write_aborted,
    write_committed,
)
from vigil.topics import Topic
from vigil_app.settings import DriftSettings, VigilSettings

RULES = """
rules:
  - {id: door, zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], quiet_s: 30}
destinations: {log: true}
"""
FRAMES = 60  # 6 s at 10 fps: windows of 2 s at 0 and 2 s close, the one at 4 s stays open


def records(settings: VigilSettings, events: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    return [(e["camera_id"], serde.serialize(e, topic=topic)) for e in events]


def decoded(settings: VigilSettings, role: Topic) -> list[dict[str, Any]]:
    serde = serde_for(settings, role)
    return [serde.decode(m) for m in read_to_end(settings, role.name_in(settings.topics))]


@pytest.mark.timeout(300)
def test_aborted_detections_raise_no_alert_and_count_in_no_window(
    settings: VigilSettings, tmp_path: Path
) -> None:
    settings = settings.model_copy(
        update={"drift": DriftSettings(window_s=2, allowed_lateness_s=0, min_samples=1)}
    )
    provision(settings)
    topic = Topic.DETECTIONS.name_in(settings.topics)
    ghost = [event("ghost", i, [person(0.2, 0.8)]) for i in range(FRAMES)]
    real = [event("real", i, [person(0.2, 0.8)]) for i in range(FRAMES)]
    write_aborted(settings, topic, records(settings, ghost + real))  # a worker that crashed
    landed = write_committed(settings, topic, records(settings, real))  # its successor's copy
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alerts = AlertsProcess(
        settings, rules, tmp_path / "alerts.log", VIGIL_ALERTING__DELIVER="false"
    )
    drift = h.DriftProcess(settings, tmp_path / "drift.log")
    drift.start()
    try:
        last: dict[int, int] = {}
        for r in landed:
            last[r.partition] = max(last.get(r.partition, 0), r.offset + 1)
        end = sum(last.values())  # past every committed detection (a ghost partition adds 0)
        wait_committed(settings, alerting_group(settings), end, timeout_s=120, proc=alerts)
        wait_committed(settings, drift_group(settings), end, timeout_s=120)
    finally:
        alerts.stop()
        drift.stop()
    raised = decoded(settings, Topic.ALERTS)
    assert [(a["camera_id"], a["frame_id"]) for a in raised] == [("real", "real-0")]
    rows = decoded(settings, Topic.DRIFT)
    windows = h.windows_of(rows, "real")
    assert sorted(windows) == [T0, T0 + 2000]
    assert [windows[w]["frames"] for w in sorted(windows)] == [20, 20]  # each frame once
    assert not h.windows_of(rows, "ghost")
