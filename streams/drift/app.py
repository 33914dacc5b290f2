"""The faust-streaming app behind ``vigil drift``: ``vigil.detections`` in, ``vigil.drift`` and
drift alerts on ``vigil.alerts`` out.

State (open windows, watermarks, streaks, automatic references) lives in one
changelog-backed faust table, so a restarted or rebalanced worker recovers it from Kafka; its
changelog is written behind, once per dirty key before each offset commit (``state.py``).
Processing is at-least-once; every table value records the source offset it last applied, so
an event replayed after a crash is never counted twice (see ``engine.py``). Faust flushes its
producer (the changelog) before it commits source offsets; our outputs are flushed when a
window closes, before the app moves on. A crash between the two can re-emit one window's
records, identical and keyed alike, which downstream de-duplicates by (camera, model version,
window, feature, statistic); nothing is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faust
from confluent_kafka import Producer

from schemas.contracts import serde_for
from schemas.serde import AvroSerde, SerdeError
from streams.drift import metrics
from streams.drift.baseline import Baseline, BaselineStore
from streams.drift.engine import Closed, DriftEngine
from streams.state import FlushBeforeCommit, WriteBehindTable
from vigil import kafka
from vigil.dlq import dead_letter
from vigil.settings import ConfigError, VigilSettings
from vigil.topics import Topic, TopicSpec

log = logging.getLogger(__name__)
COMPONENT = "drift"


class _DlqMessage:
    """A faust message seen through the confluent ``Message`` methods ``dead_letter`` reads."""

    def __init__(self, message: Any) -> None:
        self._m = message

    def value(self) -> bytes | None:
        return self._m.value  # type: ignore[no-any-return]

    def key(self) -> bytes | None:
        return self._m.key  # type: ignore[no-any-return]

    def topic(self) -> str:
        return str(self._m.topic)

    def partition(self) -> int:
        return int(self._m.partition)

    def offset(self) -> int:
        return int(self._m.offset)

    def headers(self) -> list[tuple[str, bytes]]:
        raw = self._m.headers or []
        pairs = raw.items() if isinstance(raw, dict) else raw
        return [(str(k), bytes(v or b"")) for k, v in pairs]


@dataclass
class DriftOutputs:
    """Serializes and publishes what closed windows produced, flushing before returning."""

    settings: VigilSettings
    producer: Producer
    drift_serde: AvroSerde
    alert_serde: AvroSerde

    @property
    def drift_topic(self) -> str:
        return Topic.DRIFT.name_in(self.settings.topics)

    @property
    def alerts_topic(self) -> str:
        return Topic.ALERTS.name_in(self.settings.topics)

    def publish(self, closed: list[Closed]) -> None:
        for window in closed:
            for row in window.stats:
                value = self.drift_serde.serialize(row, topic=self.drift_topic)
                kafka.produce(self.producer, self.drift_topic, value, key=window.camera_id)
            for alert in window.alerts:
                value = self.alert_serde.serialize(alert, topic=self.alerts_topic)
                kafka.produce(self.producer, self.alerts_topic, value, key=window.camera_id)
                log.warning(
                    "drift alarm %s on camera %s model %s (window %d)",
                    alert["rule_id"],
                    window.camera_id,
                    window.model_version,
                    window.window_start_ms,
                )
        if closed and self.producer.flush(60) != 0:
            raise RuntimeError("drift outputs still undelivered after 60 s")


def _brokers(settings: VigilSettings) -> list[str]:
    if settings.kafka.security_protocol != "PLAINTEXT":
        raise ConfigError(
            "kafka.security_protocol: the drift app (faust) is wired for PLAINTEXT only so far"
        )
    return [f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(",")]


def create_app(settings: VigilSettings) -> faust.App:
    """The drift app for ``settings``: tests build one per test (unique topic prefix)."""
    cfg = settings.drift
    partitions = settings.topics.detections_partitions
    datadir = settings.data_dir / "drift" / "faust"
    datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    app = faust.App(
        f"{settings.topics.prefix}-{cfg.app_id}",
        broker=_brokers(settings),
        store="memory://",
        datadir=str(datadir),
        web_enabled=False,
        autodiscover=False,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=settings.topics.replication_factor,
        topic_partitions=partitions,
        producer_acks=-1,
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=min(3.0, cfg.session_timeout_s / 3),
    )
    source = app.topic(
        Topic.DETECTIONS.name_in(settings.topics),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    def table(name: str) -> Any:
        return app.Table(
            name,
            default=None,
            partitions=partitions,  # same as the source: a camera's state lives with it
        )  # keys and values use faust's default table codec, JSON

    state = WriteBehindTable(table("state"))
    app.sensors.add(FlushBeforeCommit(state))
    store = BaselineStore.of(settings)

    def save_auto(camera: str, version: str, ref: dict[str, Any]) -> None:
        model_name = (state.get(f"{camera}\x1f{version}") or {}).get("model_name", "")
        start, end = min(ref["windows"]), max(ref["windows"]) + round(cfg.window_s * 1000)
        try:
            store.save(Baseline(camera, model_name, version, start, end, "auto", 0, ref["summary"]))
        except OSError as exc:  # a copy for people; the table is the source of truth
            log.warning("cannot write the automatic reference copy: %s", exc)

    engine = DriftEngine(cfg, state, pinned=store.pinned, on_reference=save_auto)
    serde = serde_for(settings, Topic.DETECTIONS)
    producer = kafka.producer(settings)
    outputs = DriftOutputs(
        settings, producer, serde_for(settings, Topic.DRIFT), serde_for(settings, Topic.ALERTS)
    )
    dlq_topic = Topic.DLQ.name_in(settings.topics)

    @app.agent(source)
    async def drift(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                record = serde.deserialize(
                    msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset
                )
            except SerdeError as exc:
                dead_letter(producer, dlq_topic, _DlqMessage(msg), exc, COMPONENT)  # type: ignore[arg-type]
                producer.flush(30)
                metrics.DEAD_LETTERED.inc()
                continue
            metrics.EVENTS.inc()
            state.partition = msg.partition
            outputs.publish(engine.process(record, msg.offset))

    return app


def run(settings: VigilSettings) -> None:
    """``vigil drift``: ensure the topics, serve metrics, run the faust worker until stopped."""
    from vigil.metrics import serve_metrics
    from vigil.topics import ensure_topics, topic_specs

    kafka.wait_until_ready(settings)
    client = kafka.admin(settings)
    ensure_topics(client, topic_specs(settings.topics))
    app = create_app(settings)
    # Create the tables' changelog topics (compacted, as faust would) before faust starts:
    # a changelog topic faust creates itself can enter its metadata snapshot with 0
    # partitions, and the first table write then fails with PartitionsMismatch.
    ensure_topics(client, state_topics(settings, app))
    serve_metrics(settings.metrics_port, COMPONENT)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()


def state_topics(settings: VigilSettings, app: faust.App) -> list[TopicSpec]:
    return [
        TopicSpec(
            table.changelog_topic.get_topic_name(),
            settings.topics.detections_partitions,
            settings.topics.replication_factor,
            {"cleanup.policy": "compact"},
        )
        for table in app.tables.values()
    ]
