"""Alerts on the real broker for the delivery tests: real Avro ``Alert`` records, where each
landed (partition, offset, bytes), lanes' committed offsets, and ``vigil deliver`` as a
subprocess in its own process group (``vigil.testing.DeliverProcess``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.contracts import serde_for
from streams.alerting.delivery import Delivery
from streams.alerting.delivery.groups import committed_offsets
from vigil import kafka
from vigil.follow import topic_ends
from vigil.testing import wait_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

# the delivery metrics the tests read
DEAD_LETTERED = "vigil_alert_delivery_dead_lettered_total"
DELIVERED = "vigil_alert_deliveries_total"
PAUSES = "vigil_alert_delivery_pauses_total"


def make_alert(run: str, i: int, severity: str = "HIGH") -> dict[str, Any]:
    """An Alert as the rules engine writes it (streams/alerting/engine.py alert_record)."""
    now = int(time.time() * 1000)
    return {
        "alert_id": f"{run}-{i}",
        "rule_id": "door",
        "incident_id": f"door:cam-{i % 8}:{run}-{i}",
        "camera_id": f"cam-{i % 8}",
        "frame_id": f"cam-{i % 8}-{i}",
        "label": "person",
        "score": 0.875,
        "poi_id": None,
        "poi_similarity": None,
        "severity": severity,
        "capture_ts_ms": now - 50,
        "alert_ts_ms": now,
        "track_id": i,
        "details": {"model_version": "test"},
    }


def run_id() -> str:
    return uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class Produced:
    alert_id: str
    partition: int
    offset: int
    key: bytes
    value: bytes


def publish_alerts(
    settings: VigilSettings,
    alerts: list[dict[str, Any]],
    producer: Producer | None = None,
    *,
    flush: bool = True,
) -> list[Produced]:
    """Produce the alerts keyed by camera; with ``flush``, wait for every acknowledgement."""
    topic = Topic.ALERTS.name_in(settings.topics)
    serde = serde_for(settings, Topic.ALERTS)
    prod = producer or kafka.producer(settings)
    out: list[Produced] = []
    errors: list[str] = []

    def report(alert_id: str) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                errors.append(str(err))
                return
            out.append(
                Produced(
                    alert_id,
                    msg.partition() or 0,
                    msg.offset() or 0,
                    msg.key() or b"",
                    msg.value() or b"",
                )
            )

        return done

    for a in alerts:
        value = serde.serialize(a, topic=topic)
        kafka.produce(prod, topic, value, key=a["camera_id"], on_delivery=report(a["alert_id"]))
    if flush and prod.flush(30) > 0:
        raise TimeoutError("alerts not acknowledged")
    if errors:
        raise RuntimeError(f"alerts not produced: {errors}")
    return sorted(out, key=lambda p: (p.partition, p.offset))


def publish_raw_alert(settings: VigilSettings, key: str, value: bytes) -> None:
    prod = kafka.producer(settings)
    kafka.produce(prod, Topic.ALERTS.name_in(settings.topics), value, key=key)
    if prod.flush(30) > 0:
        raise TimeoutError("record not acknowledged")


def lane_committed(settings: VigilSettings, group: str) -> dict[int, int]:
    topic = Topic.ALERTS.name_in(settings.topics)
    parts = sorted(topic_ends(settings, topic))
    return committed_offsets(settings, group, topic, parts)


def alerts_end(settings: VigilSettings) -> dict[int, int]:
    return topic_ends(settings, Topic.ALERTS.name_in(settings.topics))


def wait_lanes_ready(delivery: Delivery, count: int, timeout_s: float = 60) -> None:
    """``count`` lanes (the log lane included) exist and have their partitions."""

    def ready() -> bool:
        lanes = list(delivery.lanes.values())
        return len(lanes) == count and all(lane.ready.is_set() for lane in lanes)

    wait_until(ready, timeout_s, f"{count} delivery lanes assigned")


def headers_of(msg: Message) -> dict[str, str]:
    return {k: (v or b"").decode() for k, v in (msg.headers() or [])}
