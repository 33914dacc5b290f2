"""Exactly-once through the alerting app, real broker, real processes, SIGKILL: one alert per
incident on ``vigil.alerts`` (read_committed), none missing, whatever was killed when."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from schemas.contracts import serde_for
from streams.alerting.app import app_id, state_dir
from tests.streams.alerting.helpers import PacedPublisher, wait_members
from tests.streams.alerting.synth import event, person
from tests.streams.probe import Uncommitted
from vigil.testing import (
    AlertsProcess,
    committed_total,
    provision,
    publish_detections,
    read_to_end,
    read_topic,
    wait_committed,
    wait_settled,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

RULES = """
rules:
  - id: door
    zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    quiet_s: 2
    severity: HIGH
destinations:
  log: true
"""
CAMERAS = [f"cam-{i}" for i in range(4)]
PRESENT, ABSENT, INCIDENTS = 30, 40, 3  # frames at 10 fps: 3 s in the zone, 4 s gone (> quiet_s)
FAST = {"VIGIL_ALERTING__DELIVER": "false", "VIGIL_ALERTING__SESSION_TIMEOUT_S": "6"}


def incidents() -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """Three incidents per camera, interleaved across cameras as live feeds are; the alerts
    an uninterrupted run raises: (camera, the frame that opened each incident)."""
    events, want = [], set()
    for k in range(INCIDENTS):
        for i in range(PRESENT + ABSENT):
            seq = k * (PRESENT + ABSENT) + i
            for cam in CAMERAS:
                events.append(event(cam, seq, [person(0.2, 0.8)] if i < PRESENT else []))
            if i == 0:
                want |= {(cam, f"{cam}-{seq}") for cam in CAMERAS}
    return events, want


def alerts_seen(settings: VigilSettings) -> list[dict[str, Any]]:
    """Everything committed on vigil.alerts, to the topic's end. After a fail-over the killed
    instance's open transaction hides what follows it from read_committed readers until the
    broker aborts it (alerting.transaction_timeout_s): wait for that first."""
    serde = serde_for(settings, Topic.ALERTS)
    topic = Topic.ALERTS.name_in(settings.topics)
    wait_settled(settings, topic, timeout_s=60)
    return [serde.decode(m) for m in read_to_end(settings, topic, timeout_s=120)]


def assert_exactly_once(alerts: list[dict[str, Any]], want: set[tuple[str, str]]) -> None:
    got = [(a["camera_id"], a["frame_id"]) for a in alerts]
    assert sorted(got) == sorted(want)  # none missing, none twice
    assert len({a["alert_id"] for a in alerts}) == len(want)
    assert len({a["incident_id"] for a in alerts}) == len(want)


def seq_of(alert: dict[str, Any]) -> int:
    return int(str(alert["frame_id"]).rsplit("-", 1)[1])


def opens_round(k: int) -> Callable[[dict[str, Any]], bool]:
    """True for an alert of the k-th round of incidents."""
    return lambda alert: seq_of(alert) == k * (PRESENT + ABSENT)


@pytest.mark.timeout(600)
def test_three_sigkills_during_three_incidents_on_four_cameras(
    settings: VigilSettings, tmp_path: Path
) -> None:
    """Each kill lands right after the app sent the first alert of an incident round and
    (with a 2 s checkpoint) before its transaction committed: the alert must then appear on
    vigil.alerts once, from the restarted instance, not twice and not never."""
    provision(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    events, want = incidents()
    group = app_id(settings)
    log = tmp_path / "alerts.log"
    env = {**FAST, "VIGIL_ALERTING__COMMIT_INTERVAL_S": "2"}
    app = AlertsProcess(settings, rules, log, **env)
    publisher = PacedPublisher(settings, events, per_s=60).start()
    probe = Uncommitted(settings, Topic.ALERTS)
    kills = []
    try:
        for k in range(INCIDENTS):  # 840 events, 14 s: every kill lands mid-stream
            probe.wait_for(opens_round(k), 120, app.alive)
            app.kill()
            kills.append(committed_total(settings, group))
            app = AlertsProcess(settings, rules, log, **env)
        publisher.join(timeout_s=120)
        wait_committed(settings, group, len(events), timeout_s=180, proc=app)
    finally:
        probe.close()
        publisher.stop()
        app.stop()
    assert len(kills) == 3
    assert all(done < len(events) for done in kills), kills  # each kill: work left to do
    assert committed_total(settings, group) == len(events)
    assert_exactly_once(alerts_seen(settings), want)


@pytest.mark.timeout(600)
def test_two_instances_one_killed_mid_stream(settings: VigilSettings, tmp_path: Path) -> None:
    provision(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    events, want = incidents()
    group = app_id(settings)
    env = {**FAST, "VIGIL_ALERTING__COMMIT_INTERVAL_S": "2"}
    a = AlertsProcess(settings, rules, tmp_path / "a.log", **env)
    b = AlertsProcess(
        settings, rules, tmp_path / "b.log", VIGIL_DATA_DIR=str(tmp_path / "b"), **env
    )
    publisher: PacedPublisher | None = None
    probe = Uncommitted(settings, Topic.ALERTS)
    try:
        wait_members(settings, group, 2, timeout_s=120)
        publisher = PacedPublisher(settings, events, per_s=60).start()
        probe.wait_for(opens_round(1), 120, b.alive)
        a.kill()  # b takes over a's cameras, their state and their open incidents
        assert committed_total(settings, group) < len(events)
        publisher.join(timeout_s=120)
        wait_committed(settings, group, len(events), timeout_s=180, proc=b)
    finally:
        probe.close()
        if publisher is not None:
            publisher.stop()
        a.kill()
        b.stop()
    assert_exactly_once(alerts_seen(settings), want)


@pytest.mark.timeout(420)
def test_lost_state_directory_is_restored_from_the_changelog(
    settings: VigilSettings, tmp_path: Path
) -> None:
    """An instance whose local state is gone (a new disk, a rescheduled pod) rebuilds it from
    the changelog topic and re-notifies no open incident."""
    provision(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("quiet_s: 2", "quiet_s: 5"))
    stay = [event("cam-1", i, [person(0.2, 0.8)]) for i in range(200)]  # 20 s in the zone
    group = app_id(settings)
    publish_detections(settings, stay[:100])
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log", **FAST)
    try:
        assert len(read_topic(settings, Topic.ALERTS, want=1, timeout_s=90, proc=app)) == 1
        wait_committed(settings, group, 100, timeout_s=60, proc=app)
    finally:
        app.stop()
    local = state_dir(settings)
    assert any(local.rglob("*")), "the app kept no local state"
    shutil.rmtree(local)
    publish_detections(settings, stay[100:])  # the same incident goes on
    gone = [event("cam-1", 200 + i, []) for i in range(60)]  # 6 s: the incident closes
    again = [event("cam-1", 260 + i, [person(0.3, 0.8)]) for i in range(20)]
    publish_detections(settings, gone + again)
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log", **FAST)
    try:
        wait_committed(settings, group, 280, timeout_s=120, proc=app)
    finally:
        app.stop()
    alerts = alerts_seen(settings)
    assert [a["frame_id"] for a in alerts] == ["cam-1-0", "cam-1-260"]
