"""The alerting app as a real process (Quix Streams) against the real broker: no alert storm,
a second incident after the quiet period, and a kill -9 mid-incident without a duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.alerting.app import app_id
from tests.streams.alerting.helpers import wait_members
from tests.streams.alerting.synth import event, person
from tests.streams.alerting.webhook_server import Endpoint
from vigil.testing import (
    AlertsProcess,
    poll_until,
    provision,
    publish_detections,
    read_topic,
    wait_committed,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

RULES = """
rules:
  - id: door
    zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    quiet_s: 5
    severity: HIGH
destinations:
  webhooks: [{url: "URL"}]
"""


@pytest.mark.timeout(420)
def test_one_alert_per_incident_and_restart_mid_incident(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    hook = Endpoint("ok")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("URL", hook.url))
    stay = [event("cam-1", i, [person(0.2, 0.8)]) for i in range(200)]  # 20 s in the zone
    publish_detections(settings, stay[:120])
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log")
    try:
        first = read_topic(settings, Topic.ALERTS, want=1, timeout_s=90, proc=app)
        assert len(first) == 1, app.log_text()[-3000:]
        wait_committed(settings, app_id(settings), 120, timeout_s=60)
        delivery_group = f"{settings.topics.prefix}-alert-delivery"
        wait_committed(settings, delivery_group, 1, timeout_s=30, role=Topic.ALERTS)
        poll_until(lambda: hook.received, 30, 0.1)
        assert [a["frame_id"] for a in hook.received] == ["cam-1-0"]
    finally:
        app.kill()  # mid-incident: the person is still in the zone
    publish_detections(settings, stay[120:])
    gone = [event("cam-1", 200 + i, []) for i in range(60)]  # 6 s: the incident closes
    again = [event("cam-1", 260 + i, [person(0.3, 0.8)]) for i in range(20)]
    publish_detections(settings, gone + again)
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log")
    try:
        alerts = read_topic(settings, Topic.ALERTS, want=2, timeout_s=90, proc=app)
        wait_committed(settings, app_id(settings), 280, timeout_s=150)
        alerts = read_topic(settings, Topic.ALERTS, idle_s=2)
        poll_until(lambda: len(hook.received) >= 2, 60, 0.1)
    finally:
        app.stop()
        hook.close()
    # the webhook was notified once per incident, across the crash
    assert [a["alert_id"] for a in hook.received] == [a["alert_id"] for a in alerts]
    assert [(a["rule_id"], a["frame_id"], a["severity"]) for a in alerts] == [
        ("door", "cam-1-0", "HIGH"),
        ("door", "cam-1-260", "HIGH"),
    ]
    assert len({a["incident_id"] for a in alerts}) == 2


@pytest.mark.timeout(420)
def test_rebalance_and_failover_keep_one_alert_per_incident(
    settings: VigilSettings, tmp_path: Path
) -> None:
    """Two workers share the cameras, then one is killed and the other takes over everything:
    each camera's incident is notified once, whichever worker held it."""
    provision(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.replace("quiet_s: 5", "quiet_s: 60").replace("URL", "http://127.0.0.1:9/x")
    )
    cams = [f"cam-{i}" for i in range(6)]

    def frames(start: int) -> list[dict[str, object]]:
        return [event(c, start + i, [person(0.2, 0.8)]) for i in range(40) for c in cams]

    group = app_id(settings)
    publish_detections(settings, frames(0))
    a = AlertsProcess(settings, rules, tmp_path / "a.log", VIGIL_ALERTING__DELIVER="false")
    b: AlertsProcess | None = None
    try:
        read_topic(settings, Topic.ALERTS, want=len(cams), timeout_s=90, proc=a)
        wait_committed(settings, group, 240, timeout_s=60)
        b = AlertsProcess(
            settings,
            rules,
            tmp_path / "b.log",
            VIGIL_ALERTING__DELIVER="false",
            VIGIL_DATA_DIR=str(tmp_path / "b"),
        )
        wait_members(settings, group, 2, timeout_s=90)
        publish_detections(settings, frames(40))
        wait_committed(settings, group, 480, timeout_s=90)
        a.kill()
        publish_detections(settings, frames(80))
        wait_committed(settings, group, 720, timeout_s=120)
        alerts = read_topic(settings, Topic.ALERTS, idle_s=2)
    finally:
        a.kill()
        if b is not None:
            b.stop()
    assert sorted((x["camera_id"], x["frame_id"]) for x in alerts) == [(c, f"{c}-0") for c in cams]
    assert "alert rule=door" not in (b.log_text() if b is not None else "")
