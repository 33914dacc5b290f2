"""Vigil's topics (DESIGN.md "Topics and contracts") and their idempotent provisioning."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from vigil.settings import TopicSettings

HOUR_MS = 3_600_000


class Topic(enum.StrEnum):
    """The role of a topic; its name is ``<prefix>.<role>``."""

    FRAMES = "frames"
    DETECTIONS = "detections"
    ALERTS = "alerts"
    DRIFT = "drift"
    POI = "poi"
    DLQ = "dlq"

    def name_in(self, topics: TopicSettings) -> str:
        return f"{topics.prefix}.{self.value}"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(topics: TopicSettings) -> list[TopicSpec]:
    """The desired state of every topic."""
    rf = topics.replication_factor
    max_bytes = str(topics.max_message_bytes)
    frames_ms = str(int(topics.frames_retention_hours * HOUR_MS))
    dlq_ms = str(int(topics.dlq_retention_days * 24 * HOUR_MS))
    layout = {
        Topic.FRAMES: (topics.frames_partitions, {"retention.ms": frames_ms}),
        Topic.DETECTIONS: (topics.detections_partitions, {}),
        Topic.ALERTS: (topics.alerts_partitions, {}),
        Topic.DRIFT: (topics.drift_partitions, {}),
        Topic.POI: (topics.poi_partitions, {"cleanup.policy": "compact"}),
        Topic.DLQ: (topics.dlq_partitions, {"retention.ms": dlq_ms}),
    }
    return [
        TopicSpec(role.name_in(topics), parts, rf, {"max.message.bytes": max_bytes, **config})
        for role, (parts, config) in layout.items()
    ]


class Action(enum.StrEnum):
    CREATED = "created"
    UNCHANGED = "unchanged"
    UPDATED = "updated"


@dataclass(frozen=True)
class EnsureResult:
    name: str
    action: Action
    partitions: int
    changes: tuple[str, ...] = ()


def ensure_topics(
    client: AdminClient, specs: list[TopicSpec], timeout_s: float = 30.0
) -> list[EnsureResult]:
    """Create missing topics; grow partition counts and fix configs of existing ones.

    Partitions are never shrunk (Kafka cannot); a topic with more partitions than asked
    is left as it is.
    """
    existing = client.list_topics(timeout=timeout_s).topics
    missing = [s for s in specs if s.name not in existing]
    created: set[str] = set()
    if missing:
        futures = client.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, config=s.config)
                for s in missing
            ],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for name, fut in futures.items():
            try:
                fut.result(timeout_s)
                created.add(name)
            except KafkaException as exc:  # created concurrently by another process: fine
                err = exc.args[0]
                if not isinstance(err, KafkaError) or err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    if created:
        wait_for_leaders(client, sorted(created), timeout_s)
    results = []
    for spec in specs:
        if spec.name in created:
            results.append(EnsureResult(spec.name, Action.CREATED, spec.partitions))
            continue
        results.append(_reconcile(client, spec, timeout_s))
    return results


def _reconcile(client: AdminClient, spec: TopicSpec, timeout_s: float) -> EnsureResult:
    changes: list[str] = []
    meta = client.list_topics(spec.name, timeout=timeout_s).topics[spec.name]
    partitions = len(meta.partitions)
    if partitions < spec.partitions:
        fut = client.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name]
        fut.result(timeout_s)
        wait_for_leaders(client, [spec.name], timeout_s, {spec.name: spec.partitions})
        changes.append(f"partitions {partitions} -> {spec.partitions}")
        partitions = spec.partitions
    resource = ConfigResource(ConfigResource.Type.TOPIC, spec.name)
    current = client.describe_configs([resource])[resource].result(timeout_s)
    ops = [
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
        for k, v in spec.config.items()
        if current.get(k) is None or current[k].value != v
    ]
    if ops:
        alter = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=ops)
        client.incremental_alter_configs([alter])[alter].result(timeout_s)
        changes.extend(f"{e.name}={e.value}" for e in ops)
    action = Action.UPDATED if changes else Action.UNCHANGED
    return EnsureResult(spec.name, action, partitions, tuple(changes))


def wait_for_leaders(
    client: AdminClient,
    names: list[str],
    timeout_s: float = 30.0,
    partitions: Mapping[str, int] | None = None,
) -> None:
    """Block until every partition of ``names`` has a leader (and, for names in
    ``partitions``, at least that many partitions exist): a just-created or just-grown topic
    is not usable before, and producers or offset look-ups would fail with NOT_LEADER."""
    expected = partitions or {}
    deadline = time.monotonic() + timeout_s
    while True:
        topics = client.list_topics(timeout=timeout_s).topics
        pending = [
            n
            for n in names
            if n not in topics
            or topics[n].error is not None
            or len(topics[n].partitions) < max(1, expected.get(n, 1))
            or any(p.leader < 0 or p.error is not None for p in topics[n].partitions.values())
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout_s:.0f}s: {pending}")
        time.sleep(0.1)
