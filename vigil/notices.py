"""Alerts that are not about a scene: a model refused by a worker, an accuracy drop, a
retraining run that failed or left a candidate waiting. They go to ``vigil.alerts`` like a
drift alarm, so the same destinations and dashboards hear them; their ids are deterministic
(``<rule>:<ident>``), so raising one twice is seen downstream as one alert."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaError, Message

from schemas.contracts import serde_for
from schemas.types import Alert, Severity
from vigil import kafka
from vigil.errors import VigilError
from vigil.settings import CoreSettings
from vigil.topics import Topic


class NoticeError(VigilError, RuntimeError):
    """An alert could not be written to ``vigil.alerts``."""


def system_alert(
    rule_id: str,
    ident: str,
    *,
    severity: Severity = "MEDIUM",
    label: str = "",
    score: float = 0.0,
    camera_id: str = "",
    details: Mapping[str, str] | None = None,
    ts_ms: int | None = None,
) -> Alert:
    """An alert of ``rule_id`` about ``ident`` (a model version, a run id): one incident each."""
    now = time.time_ns() // 1_000_000 if ts_ms is None else ts_ms
    return {
        "alert_id": f"{rule_id}:{ident}",
        "rule_id": rule_id,
        "incident_id": f"{rule_id}:{ident}",
        "camera_id": camera_id,
        "frame_id": "",
        "label": label or rule_id,
        "score": float(score),
        "poi_id": None,
        "poi_similarity": None,
        "severity": severity,
        "capture_ts_ms": now,
        "alert_ts_ms": now,
        "track_id": None,
        "details": dict(details or {}),
    }


def publish_alerts(
    settings: CoreSettings, alerts: Sequence[Alert], timeout_s: float = 30.0
) -> None:
    """Produce ``alerts`` (idempotent producer, acks=all) and wait until each is written."""
    if not alerts:
        return
    topic = Topic.ALERTS.name_in(settings.topics)
    serde = serde_for(settings, Topic.ALERTS)
    producer = kafka.producer(settings)
    failed: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failed.append(str(err))

    for alert in alerts:
        value = serde.serialize(alert, topic=topic)
        key = alert["camera_id"] or alert["rule_id"]
        kafka.produce(producer, topic, value, key=key, on_delivery=delivered)
    left = producer.flush(timeout_s)
    if left or failed:
        raise NoticeError(
            f"{left + len(failed)} alert(s) not delivered to {topic}: {failed or 'timed out'}"
        )
