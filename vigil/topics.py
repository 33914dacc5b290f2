"""Vigil's topics (DESIGN.md "Topics and contracts") and their idempotent provisioning."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from vigil.errors import VigilError
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
    MODELS = "models"
    SAMPLES = "samples"

    def name_in(self, topics: TopicSettings) -> str:
        return f"{topics.prefix}.{self.value}"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


# Topics that carry personal data (images, embeddings, person ids): each has a retention.ms
# that components check at start, and a segment.ms no larger, so that deletion happens.
PERSONAL = (Topic.FRAMES, Topic.DETECTIONS, Topic.ALERTS, Topic.DLQ, Topic.SAMPLES)
# The compaction settings of vigil.poi (and of the stream apps' changelogs, which may hold person
# ids) as fractions of the erasure bound: a tombstone's segment rolls within a quarter (the next
# append after segment.ms; ``vigil.poi`` gets a roll marker every eighth, see
# ``streams/alerting/poi.py``), is compacted within another quarter (max.compaction.lag.ms), and
# the tombstone itself, which still names the person, goes a quarter after that.
ERASURE_FRACTION = 4
ROLL_MARKER = "~vigil.roll"  # a key no person id can be (``PERSON_ID`` has no "~")


def retention_ms(topics: TopicSettings) -> dict[Topic, int]:
    """The retention.ms each personal topic must have at most."""
    hours = {
        Topic.FRAMES: topics.frames_retention_hours,
        Topic.DETECTIONS: topics.detections_retention_hours,
        Topic.ALERTS: topics.alerts_retention_hours,
        Topic.DLQ: topics.dlq_retention_hours,
        Topic.SAMPLES: topics.samples_retention_hours,
    }
    return {role: int(h * HOUR_MS) for role, h in hours.items()}


def compaction_config(topics: TopicSettings) -> dict[str, str]:
    """A compacted topic on which a tombstone erases the value within ``poi_erasure_minutes``."""
    step = str(max(1, int(topics.poi_erasure_minutes * 60_000 / ERASURE_FRACTION)))
    return {
        "cleanup.policy": "compact",
        "segment.ms": step,
        "max.compaction.lag.ms": step,
        "delete.retention.ms": step,
        "min.cleanable.dirty.ratio": "0.01",
    }


def roll_interval_s(topics: TopicSettings) -> float:
    """How often a roll marker goes to vigil.poi (half a segment.ms)."""
    return topics.poi_erasure_minutes * 60 / (2 * ERASURE_FRACTION)


def topic_specs(topics: TopicSettings) -> list[TopicSpec]:
    """The desired state of every topic."""
    rf = topics.replication_factor
    max_bytes = str(topics.max_message_bytes)
    segment_cap = int(topics.personal_segment_hours * HOUR_MS)
    personal = {
        role: {"retention.ms": str(ms), "segment.ms": str(min(ms, segment_cap))}
        for role, ms in retention_ms(topics).items()
    }
    layout = {
        Topic.FRAMES: (topics.frames_partitions, personal[Topic.FRAMES]),
        Topic.DETECTIONS: (topics.detections_partitions, personal[Topic.DETECTIONS]),
        Topic.ALERTS: (topics.alerts_partitions, personal[Topic.ALERTS]),
        Topic.DRIFT: (topics.drift_partitions, {}),
        Topic.POI: (topics.poi_partitions, compaction_config(topics)),
        Topic.DLQ: (topics.dlq_partitions, personal[Topic.DLQ]),
        # the model registry: one partition (one total order of promotions), compacted
        Topic.MODELS: (1, {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}),
        Topic.SAMPLES: (topics.samples_partitions, personal[Topic.SAMPLES]),
    }
    return [
        TopicSpec(role.name_in(topics), parts, rf, {"max.message.bytes": max_bytes, **config})
        for role, (parts, config) in layout.items()
    ]


def changelog_prefix(topics: TopicSettings) -> str:
    """Quix Streams names a stream app's changelog ``changelog__<group>--...``; every app's group
    starts with ``<prefix>-`` (``alerting.app_name``, ``drift.app_id``)."""
    return f"changelog__{topics.prefix}-"


def changelog_specs(
    client: AdminClient, topics: TopicSettings, timeout_s: float = 30.0
) -> list[TopicSpec]:
    """The stream apps' changelog topics that exist now, with the compaction bound of vigil.poi:
    the alerting state names persons (open POI incidents, a track's votes), and a superseded
    state value is only gone once compacted."""
    prefix = changelog_prefix(topics)
    existing = client.list_topics(timeout=timeout_s).topics
    return [
        TopicSpec(name, len(meta.partitions), topics.replication_factor, compaction_config(topics))
        for name, meta in sorted(existing.items())
        if name.startswith(prefix)
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


REPLICATED = 3  # replicas of each partition on a cluster of three or more brokers
MIN_INSYNC = 2  # with acks=all: a write survives one broker down; two down stop writes


def resolved(spec: TopicSpec, brokers: int) -> TopicSpec:
    """``spec`` with replication factor 0 ("auto", the default) made what the cluster can
    hold: 3 with ``min.insync.replicas=2`` on three brokers or more, else 1."""
    if spec.replication_factor > 0:
        return spec
    if brokers < REPLICATED:
        return replace(spec, replication_factor=1)
    config = {"min.insync.replicas": str(MIN_INSYNC), **spec.config}
    return replace(spec, replication_factor=REPLICATED, config=config)


def ensure_topics(
    client: AdminClient,
    specs: list[TopicSpec],
    timeout_s: float = 30.0,
    *,
    configs: bool = True,
) -> list[EnsureResult]:
    """Create missing topics; grow partition counts and (with ``configs``) fix the configs of
    existing ones with incremental alter configs.

    Partitions are never shrunk (Kafka cannot); a topic with more partitions than asked
    is left as it is. Components pass ``configs=False`` and check retention instead
    (:func:`prepare_topics`): changing a topic's configs is ``vigil topics ensure``'s job.
    """
    meta = client.list_topics(timeout=timeout_s)
    existing = meta.topics
    specs = [resolved(s, len(meta.brokers)) for s in specs]
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
        results.append(_reconcile(client, spec, timeout_s, configs))
    return results


def _reconcile(
    client: AdminClient, spec: TopicSpec, timeout_s: float, configs: bool = True
) -> EnsureResult:
    changes: list[str] = []
    meta = client.list_topics(spec.name, timeout=timeout_s).topics[spec.name]
    partitions = len(meta.partitions)
    if partitions < spec.partitions:
        fut = client.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name]
        fut.result(timeout_s)
        wait_for_leaders(client, [spec.name], timeout_s, {spec.name: spec.partitions})
        changes.append(f"partitions {partitions} -> {spec.partitions}")
        partitions = spec.partitions
    if not configs:
        return EnsureResult(
            spec.name, Action.UPDATED if changes else Action.UNCHANGED, partitions, tuple(changes)
        )
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


class RetentionError(VigilError, RuntimeError):
    """A personal-data topic keeps records longer than the settings allow: the process refuses
    to start (the fix is ``vigil topics ensure``)."""


def retention_problems(
    client: AdminClient, topics: TopicSettings, timeout_s: float = 30.0
) -> list[str]:
    """What is wrong with the retention of the personal topics and the compaction bound of
    vigil.poi, one line each (empty: nothing). One describe_configs request for all of them."""
    limits = {role.name_in(topics): ms for role, ms in retention_ms(topics).items()}
    setting = {
        Topic.FRAMES: "frames_retention_hours",
        Topic.DETECTIONS: "detections_retention_hours",
        Topic.ALERTS: "alerts_retention_hours",
        Topic.DLQ: "dlq_retention_hours",
        Topic.SAMPLES: "samples_retention_hours",
    }
    poi = Topic.POI.name_in(topics)
    names = [*limits, poi]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, n) for n in names]
    futures = client.describe_configs(resources, request_timeout=timeout_s)
    problems = []
    for res in resources:
        try:
            current = futures[res].result(timeout_s)
        except KafkaException as exc:
            problems.append(f"{res.name}: its configs cannot be read ({exc.args[0]})")
            continue
        if res.name == poi:
            bound = int(compaction_config(topics)["max.compaction.lag.ms"])
            for key in ("segment.ms", "max.compaction.lag.ms"):
                value = _int_config(current, key)
                if value is None or value > bound:
                    problems.append(
                        f"{poi}: {key}={value} lets an erased embedding stay past "
                        f"topics.poi_erasure_minutes ({topics.poi_erasure_minutes:g} min)"
                    )
            continue
        value = _int_config(current, "retention.ms")
        limit = limits[res.name]
        if value is None or value < 0 or value > limit:
            role = Topic(res.name.rsplit(".", 1)[1])
            kept = "forever" if value is None or value < 0 else f"{value / HOUR_MS:g} h"
            problems.append(
                f"{res.name}: keeps records {kept} (retention.ms={value}), longer than "
                f"topics.{setting[role]} ({limit / HOUR_MS:g} h)"
            )
    return problems


def _int_config(entries: Mapping[str, ConfigEntry], key: str) -> int | None:
    entry = entries.get(key)
    if entry is None or entry.value is None:
        return None
    try:
        return int(entry.value)
    except ValueError:
        return None


def check_retention(client: AdminClient, topics: TopicSettings, timeout_s: float = 30.0) -> None:
    """Refuse to run on topics that keep personal data longer than the settings say."""
    problems = retention_problems(client, topics, timeout_s)
    if problems:
        raise RetentionError(
            "personal data would be kept longer than configured: "
            + "; ".join(problems)
            + ". Fix: run `vigil topics ensure` (it alters the topics' configs)"
        )


def prepare_topics(
    client: AdminClient, topics: TopicSettings, timeout_s: float = 30.0
) -> list[EnsureResult]:
    """What a component does at start: create missing topics (with their retention), grow
    partitions, and refuse (:class:`RetentionError`) when an existing personal topic keeps
    records longer than the settings allow. It never alters configs: that is
    ``vigil topics ensure``'s (an operator's) job."""
    results = ensure_topics(client, topic_specs(topics), timeout_s, configs=False)
    check_retention(client, topics, timeout_s)
    return results
