"""Alerts that are not about a scene: a model refused by a worker, an accuracy drop, a
retraining run that failed or left a candidate waiting. They go on ``vigil.alerts`` like a
rule's alerts (schemas/avro/alert.avsc), so every destination, the dashboard and the ClickHouse
sink see them; ``rule_id`` names what raised them (``model:refused``, ``accuracy:recall``,
``retrain:failed``) and ``details`` says the rest.

Each alert id is deterministic for what it reports, so a consumer de-duplicates a re-raise."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from confluent_kafka import Producer

from schemas.contracts import serde_for
from vigil import kafka
from vigil.errors import VigilError
from vigil.settings import CoreSettings
from vigil.topics import Topic

Severity = Literal["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


class AlertNotDelivered(VigilError, RuntimeError):
    """Kafka did not acknowledge an alert; the caller decides whether to retry."""


def system_alert(
    rule_id: str,
    alert_id: str,
    label: str,
    *,
    severity: Severity = "MEDIUM",
    score: float = 0.0,
    camera_id: str = "",
    capture_ts_ms: int | None = None,
    now_ms: int | None = None,
    details: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """An Alert record; ``details`` values are written as strings."""
    at = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return {
        "alert_id": alert_id,
        "rule_id": rule_id,
        "incident_id": alert_id,
        "camera_id": camera_id,
        "frame_id": "",
        "label": label,
        "score": float(score),
        "poi_id": None,
        "poi_similarity": None,
        "severity": severity,
        "capture_ts_ms": at if capture_ts_ms is None else capture_ts_ms,
        "alert_ts_ms": at,
        "track_id": None,
        "details": {k: str(v) for k, v in (details or {}).items()},
    }


def produce_alert(producer: Producer, settings: CoreSettings, alert: Mapping[str, Any]) -> None:
    """Produce ``alert`` with ``producer`` (inside its open transaction, if it has one)."""
    topic = Topic.ALERTS.name_in(settings.topics)
    value = serde_for(settings, Topic.ALERTS).serialize(dict(alert), topic=topic)
    kafka.produce(producer, topic, value, key=str(alert["camera_id"]))


def publish_alerts(
    settings: CoreSettings, alerts: Sequence[Mapping[str, Any]], timeout_s: float = 30.0
) -> None:
    """Produce ``alerts`` and wait for Kafka's acknowledgement of each (raises
    :class:`AlertNotDelivered` otherwise)."""
    if not alerts:
        return
    topic = Topic.ALERTS.name_in(settings.topics)
    serde = serde_for(settings, Topic.ALERTS)
    producer = kafka.producer(settings)
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for alert in alerts:
        kafka.produce(
            producer,
            topic,
            serde.serialize(dict(alert), topic=topic),
            key=str(alert["camera_id"]),
            on_delivery=delivered,
            timeout_s=timeout_s,
        )
    left = producer.flush(timeout_s)
    if left or errors:
        raise AlertNotDelivered(
            f"{topic}: {left} alerts unacknowledged after {timeout_s:.0f}s, "
            f"errors: {errors or 'none'}"
        )
