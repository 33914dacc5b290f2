"""Rule semantics through the real app (Kafka + Quix Streams) on synthetic streams, one camera per
rule; webhooks (one good, one answering 500, one hanging) do not hold anything up; an
undecodable detection goes to the DLQ; a bad edit of the rules file keeps the previous rules,
a good one applies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.streams.alerting.helpers import publish_raw
from tests.streams.alerting.synth import T0, event, person
from tests.streams.alerting.webhook_server import Endpoint
from vigil.dlq import read_envelope
from vigil.testing import (
    AlertsProcess,
    free_port,
    poll_until,
    provision,
    publish_detections,
    read_topic,
    wait_committed,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

LEFT = "[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]"
HOUR = 3_600_000


def rules_yaml(ok: str, failing: str, hanging: str, zone_severity: str = "LOW") -> str:
    return f"""
rules:
  - {{id: zone, cameras: [z, z2, z3], zone: {LEFT}, severity: {zone_severity}}}
  - {{id: line, cameras: [l], trigger: line, quiet_s: 0.5,
      line: {{a: [0.5, 0], b: [0.5, 1], direction: left_to_right}}}}
  - {{id: dwell, cameras: [d], trigger: dwell, dwell_s: 3, zone: {LEFT}}}
  - {{id: count, cameras: [n], trigger: count, count: 3, zone: {LEFT}}}
  - {{id: night, cameras: [s], quiet_s: 60,
      schedule: {{timezone: America/New_York, windows: [{{start: '23:00', end: '01:00'}}]}}}}
  - {{id: cool, cameras: [c], zone: {LEFT}, incident_per: track, cooldown_s: 10, quiet_s: 1}}
tracking: {{max_age_s: 2}}
destinations:
  log: true
  webhooks:
    - {{url: '{ok}', secret: s3cret}}
    - {{url: '{failing}', retries: 2, backoff_s: 0.1}}
    - {{url: '{hanging}', retries: 1, backoff_s: 0.1, timeout_s: 0.5}}
"""


def walk(camera: str, xs: list[float], start: int = 0) -> list[dict[str, Any]]:
    return [event(camera, start + i, [person(x, 0.8)]) for i, x in enumerate(xs)]


def streams() -> tuple[list[dict[str, Any]], set[tuple[str, str, str]]]:
    evs: list[dict[str, Any]] = []
    want: set[tuple[str, str, str]] = set()
    evs += walk("z", [0.6] * 5 + [0.2] * 30)  # outside, then 30 frames inside: one alert
    want.add(("z", "zone", "z-5"))
    right = [0.31 + 0.02 * i for i in range(20)]
    evs += walk("l", right + right[::-1])  # across left to right, then back: one alert
    want.add(("l", "line", "l-10"))
    evs += walk("d", [0.2] * 25)  # 2.5 s: not yet
    evs += [event("d", 25 + i, []) for i in range(30)]  # gone 3 s: the track expires
    evs += walk("d", [0.2] * 40, start=55)  # 4 s: fires 3 s after entering
    want.add(("d", "dwell", "d-85"))
    two = [person(0.1, 0.8), person(0.3, 0.8), person(0.8, 0.8)]
    three = [person(0.1, 0.8), person(0.3, 0.8), person(0.45, 0.8)]
    evs += [event("n", 0, two), event("n", 1, three), event("n", 2, three)]
    want.add(("n", "count", "n-1"))
    ny = {
        "18:59": -60_000,
        "23:30": 4 * HOUR + 1_800_000,
        "00:30": 5 * HOUR + 1_800_000,
        "01:00": 6 * HOUR,
    }  # New York times (UTC-5) of T0 + offset
    for i, off in enumerate(ny.values()):
        evs.append(event("s", i, [person(0.2, 0.8)], ts_ms=T0 + off))
    want |= {("s", "night", "s-1"), ("s", "night", "s-2")}
    a, b = person(0.1, 0.8), person(0.35, 0.8)
    evs += [event("c", 0, [a])] + [event("c", i, [a, b]) for i in range(1, 30)]
    evs += [event("c", 30 + i, []) for i in range(20)]
    evs += [event("c", 110 + i, [a]) for i in range(3)]
    want |= {("c", "cool", "c-0"), ("c", "cool", "c-110")}
    return evs, want


def wait_for_log(app: AlertsProcess, text: str, timeout_s: float = 30) -> None:
    if not poll_until(lambda: text in app.log_text(), timeout_s, 0.2):
        raise TimeoutError(f"{text!r} not in the app's log: {app.log_text()[-2000:]}")


def test_rules_on_synthetic_streams_dlq_webhooks_and_reload(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    ok, failing, hanging = Endpoint("ok", b"s3cret"), Endpoint("500"), Endpoint("hang")
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_yaml(ok.url, failing.url, hanging.url))
    evs, want = streams()
    publish_raw(settings, "z", b"\xc3\x01 not an event")
    publish_detections(settings, evs)
    group = f"{settings.topics.prefix}-alerting"
    port = free_port()
    app = AlertsProcess(settings, rules, tmp_path / "alerts.log", VIGIL_METRICS_PORT=str(port))
    try:
        read_topic(settings, Topic.ALERTS, want=len(want), timeout_s=90, proc=app)
        wait_committed(settings, group, len(evs) + 1, timeout_s=60)
        alerts = read_topic(settings, Topic.ALERTS, idle_s=1.5)
        assert {(x["camera_id"], x["rule_id"], x["frame_id"]) for x in alerts} == want
        assert len(alerts) == len(want)
        assert {x["severity"] for x in alerts if x["rule_id"] == "zone"} == {"LOW"}

        # the app's own dead letters (delivery dead-letters what the failing webhooks refused)
        envelopes = [read_envelope(m) for m in read_topic(settings, Topic.DLQ, decode=False)]
        (env,) = [e for e in envelopes if e["component"] == "alerting"]
        assert env["value"] == b"\xc3\x01 not an event"
        assert env["component"] == "alerting"
        assert "cannot decode" in env["error_message"] or "fingerprint" in env["error_message"]

        # the good webhook got every alert once, signed; the others were retried and gave up
        poll_until(lambda: len(ok.received) >= len(want), 30, 0.2)
        assert sorted(x["alert_id"] for x in ok.received) == sorted(x["alert_id"] for x in alerts)
        assert ok.bad_signatures == 0
        wait_for_log(app, "given up")
        assert failing.hits >= 3  # 1 + 2 retries for the first alert at least
        assert hanging.hits >= 1

        # a bad edit is refused, naming the field; the previous rules stay active
        rules.write_text(rules_yaml(ok.url, failing.url, hanging.url) + "bogus: 1\n")
        wait_for_log(app, "unknown field 'bogus'")
        publish_detections(settings, walk("z2", [0.2] * 3))
        got = read_topic(settings, Topic.ALERTS, want=len(want) + 1, timeout_s=30, proc=app)
        assert [x["severity"] for x in got if x["camera_id"] == "z2"] == ["LOW"]
        # a good edit applies
        rules.write_text(rules_yaml(ok.url, failing.url, hanging.url, zone_severity="CRITICAL"))
        wait_for_log(app, "rules reloaded")
        publish_detections(settings, walk("z3", [0.2] * 3))
        got = read_topic(settings, Topic.ALERTS, want=len(want) + 2, timeout_s=30, proc=app)
        assert [x["severity"] for x in got if x["camera_id"] == "z3"] == ["CRITICAL"]
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'vigil_alerts_total{rule="zone",severity="CRITICAL"} 1.0' in metrics
        assert 'vigil_alerts_total{rule="night",severity="MEDIUM"} 2.0' in metrics
        assert "vigil_alerting_dead_lettered_total 1.0" in metrics
        assert 'vigil_alert_rule_reloads_total{outcome="applied"} 1.0' in metrics
        assert "vigil_alert_latency_seconds_count 10.0" in metrics
        failures = [
            line
            for line in metrics.splitlines()
            if line.startswith("vigil_alert_delivery_failures_total{")
        ]
        assert len(failures) == 2
        assert all(float(line.split()[-1]) >= 2 for line in failures)
    finally:
        app.stop()
        for e in (ok, failing, hanging):
            e.close()
