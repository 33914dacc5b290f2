"""The alerting app as a real process (faust worker) against the real broker: no alert storm,
a second incident after the quiet period, and a kill -9 mid-incident without a duplicate."""

from __future__ import annotations

from pathlib import Path

from streams.alerting.app import app_id
from tests.streams.alerting.helpers import (
    AlertsProcess,
    prepare_topics,
    publish_detections,
    read_topic,
    wait_committed,
)
from tests.streams.alerting.synth import event, person
from vigil.settings import VigilSettings
from vigil.topics import Topic

RULES = """
rules:
  - id: door
    zone: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    quiet_s: 5
    severity: HIGH
"""


def test_one_alert_per_incident_and_restart_mid_incident(
    settings: VigilSettings, tmp_path: Path
) -> None:
    prepare_topics(settings)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    stay = [event("cam-1", i, [person(0.2, 0.8)]) for i in range(200)]  # 20 s in the zone
    publish_detections(settings, stay[:120])
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log")
    try:
        first = read_topic(settings, Topic.ALERTS, want=1, timeout_s=90, proc=app)
        assert len(first) == 1, app.log_text()[-3000:]
        wait_committed(settings, app_id(settings), 120, timeout_s=60)
    finally:
        app.kill()  # mid-incident: the person is still in the zone
    publish_detections(settings, stay[120:])
    gone = [event("cam-1", 200 + i, []) for i in range(60)]  # 6 s: the incident closes
    again = [event("cam-1", 260 + i, [person(0.3, 0.8)]) for i in range(20)]
    publish_detections(settings, gone + again)
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log")
    try:
        alerts = read_topic(settings, Topic.ALERTS, want=2, timeout_s=90, proc=app)
        wait_committed(settings, app_id(settings), 280, timeout_s=60)
        alerts = read_topic(settings, Topic.ALERTS, idle_s=2)
    finally:
        app.stop()
    assert [(a["rule_id"], a["frame_id"], a["severity"]) for a in alerts] == [
        ("door", "cam-1-0", "HIGH"),
        ("door", "cam-1-260", "HIGH"),
    ]
    assert len({a["incident_id"] for a in alerts}) == 2
