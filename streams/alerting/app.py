"""The alerting app: a faust-streaming worker from ``vigil.detections`` to ``vigil.alerts``.

Detections are consumed as raw bytes and decoded with Vigil's serde (undecodable events go to
``vigil.dlq`` with the reason). Each camera's tracker, rule and incident state lives in a
changelog-backed table, so a restarted or rebalanced worker resumes where the last one stopped
and never re-notifies an open incident: state reaches the changelog before the offsets that
imply it are committed, and together with any alert it raised; events delivered again are
recognised by their offset (at-least-once delivery, applied once)."""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from streams.alerting import metrics
from streams.alerting.engine import (
    AuditEntry,
    CameraState,
    alert_record,
    process,
)
from streams.alerting.rules import RulesFile
from streams.alerting.watchlist import Watchlist
from streams.stall import StallGuard
from streams.state import FlushBeforeCommit, WriteBehindTable
from vigil.dlq import (
    H_COMPONENT,
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_FAILED_TS,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    MAX_MESSAGE_CHARS,
)
from vigil.settings import KafkaSettings, VigilSettings
from vigil.topics import Topic

log = logging.getLogger(__name__)
COMPONENT = "alerting"


def app_id(settings: VigilSettings) -> str:
    """The faust app id: its consumer group and the prefix of its changelog topics."""
    return f"{settings.topics.prefix}-{settings.alerting.app_name}"


def credentials(kafka: KafkaSettings) -> Any:
    """faust's credentials for the same security options every other Vigil client uses."""
    context = None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None
        )
        if kafka.ssl_certificate_location:
            context.load_cert_chain(
                str(kafka.ssl_certificate_location),
                str(kafka.ssl_key_location) if kafka.ssl_key_location else None,
                kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None,
            )
    if kafka.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class AuditLog:
    """Every POI decision above the near-miss bound, one JSON line each, for threshold tuning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entries: list[AuditEntry], ts_ms: int) -> None:
        if not entries:
            return
        with self.path.open("a", encoding="utf-8") as f:
            for e in entries:
                line = {"ts_ms": ts_ms, **e.__dict__}
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
                log.info("poi %s", json.dumps(line))


def dlq_headers(event: EventT[Any], error: BaseException) -> list[tuple[str, bytes]]:
    msg = event.message
    raw = msg.headers or []
    pairs = list(raw.items()) if isinstance(raw, Mapping) else list(raw)
    original = [(str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs]
    reason = {
        H_ERROR_CLASS: type(error).__name__,
        H_ERROR_MESSAGE: str(error)[:MAX_MESSAGE_CHARS],
        H_SOURCE_TOPIC: msg.topic,
        H_SOURCE_PARTITION: str(msg.partition),
        H_SOURCE_OFFSET: str(msg.offset),
        H_COMPONENT: COMPONENT,
        H_FAILED_TS: str(int(time.time() * 1000)),
    }
    return original + [(k, v.encode()) for k, v in reason.items()]


async def drain(app: faust.App) -> None:
    """Until faust's producer buffer is empty, then until Kafka acknowledged everything."""
    buffer = app.producer.buffer
    while buffer.size:
        await buffer.flush()
    await app.producer.flush()


def create_app(
    settings: VigilSettings, rules: RulesFile, watchlist: Watchlist | None = None
) -> faust.App:
    """Build the faust app for ``settings`` (broker, security, topics) and ``rules``."""
    cfg = settings.alerting
    app = faust.App(
        app_id(settings),
        broker=[f"kafka://{h.strip()}" for h in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=credentials(settings.kafka),
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        processing_guarantee="at_least_once",  # applied once: see the module docstring
        broker_commit_interval=cfg.commit_interval_s,
        broker_session_timeout=cfg.session_timeout_s,
        broker_heartbeat_interval=cfg.session_timeout_s / 4,
        topic_partitions=settings.topics.detections_partitions,
        topic_replication_factor=settings.topics.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        datadir=str(settings.data_dir / "alerting" / "faust"),
        table_cleanup_interval=3600.0,
        # Standby replicas track changelog offsets outside the transactions; on fail-over they
        # made faust's recovery crash (ConsistencyError) while the dead worker's transaction
        # was still open. The state is one small record per camera: full recovery is quick.
        table_standby_replicas=0,
    )
    watch = watchlist if watchlist is not None else Watchlist()
    names = settings.topics
    detections = app.topic(
        Topic.DETECTIONS.name_in(names), key_serializer="raw", value_serializer="raw"
    )
    alerts = app.topic(Topic.ALERTS.name_in(names), key_serializer="raw", value_serializer="raw")
    dlq = app.topic(Topic.DLQ.name_in(names), key_serializer="raw", value_serializer="raw")
    for t in (detections, alerts, dlq):
        t.internal = False
    # Camera state is kept write-behind: set in the table's local store on every event, sent to
    # the changelog when faust starts a commit (so committed offsets never run ahead of it) and
    # at once when an event raised alerts (so an alert and the incident it opened are durable
    # together). Each state records the last (partition, offset) it applied, so events faust
    # delivers again after a crash or a rebalance change nothing and alert nobody twice.
    state = WriteBehindTable(
        app.Table(
            "camera-state",
            default=None,
            key_type=str,
            value_type=str,
            partitions=settings.topics.detections_partitions,
        )
    )
    app.sensors.add(FlushBeforeCommit(state))
    det_serde = serde_for(settings, Topic.DETECTIONS)
    alert_serde = serde_for(settings, Topic.ALERTS)
    audit = AuditLog(cfg.audit_log or settings.data_dir / "alerting" / "poi-audit.jsonl")
    open_incidents: dict[str, int] = {}

    async def handle(record: dict[str, Any], partition: int, offset: int) -> bool:
        """Apply one detection event; True when it raised alerts."""
        camera = str(record["camera_id"])
        current = CameraState.loads(state.get(camera, "").encode())
        if current.is_applied(partition, offset):
            metrics.REDELIVERED.inc()
            return False
        outcome = process(record, current, rules.rules, watch)
        current.applied = (partition, offset)
        state.partition = partition
        state[camera] = current.dumps().decode()
        now_ms = int(time.time() * 1000)
        for note in outcome.notifications:
            alert = alert_record(note, record, now_ms)
            await alerts.send(
                key=camera.encode(),
                value=alert_serde.serialize(alert, topic=alerts.get_topic_name()),
            )
            metrics.ALERTS.labels(note.rule_id, note.severity).inc()
            metrics.LATENCY.observe(max(0, now_ms - int(record["inference_ts_ms"])) / 1000)
            log.info("alert rule=%s camera=%s incident=%s", note.rule_id, camera, note.incident_id)
        metrics.SUPPRESSED.inc(outcome.suppressed)
        metrics.POI_REJECTED.inc(outcome.poi_rejected)
        for entry in outcome.audit:
            counter = metrics.POI_MATCHES if entry.decision == "match" else metrics.NEAR_MISSES
            counter.inc()
        audit.write(outcome.audit, now_ms)
        open_incidents[camera] = len(current.incidents)
        metrics.OPEN_INCIDENTS.set(sum(open_incidents.values()))
        return bool(outcome.notifications)

    async def dead_letter(event: EventT[Any], exc: Exception) -> None:
        metrics.DEAD_LETTERED.inc()
        log.warning("dead-lettered %s/%s: %r", event.message.partition, event.message.offset, exc)
        msg = event.message
        await dlq.send(key=msg.key, value=msg.value, headers=dlq_headers(event, exc))
        await drain(app)

    guard = StallGuard(detections.get_topic_name(), cfg.stall_s)

    @app.agent(detections)
    async def alerting(stream: faust.StreamT[bytes]) -> None:
        # One event at a time, acknowledged by faust when the next is requested (so only after
        # it was applied). Faces are matched per event: one matrix product against the list.
        async for event in stream.events():
            msg = event.message
            guard.seen(msg.partition)
            try:
                record = det_serde.deserialize(
                    msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset
                )
            except SerdeError as exc:
                await dead_letter(event, exc)
                continue
            try:
                alerted = await handle(record, msg.partition, msg.offset)
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                # a decodable event the rules cannot use: errors are data, never a stall
                await dead_letter(event, exc)
                continue
            if alerted:
                state.flush()
                await drain(app)

    @app.timer(min(5.0, cfg.stall_s / 2))  # type: ignore[untyped-decorator]
    async def unstall() -> None:
        metrics.REWINDS.inc(len(await guard.check(app.consumer)))

    @app.timer(cfg.rules_poll_s)  # type: ignore[untyped-decorator]
    async def reload_rules() -> None:
        if rules.refresh():
            metrics.RULE_RELOADS.labels("applied").inc()
        elif rules.error is not None:
            metrics.RULE_RELOADS.labels("rejected").inc()

    app.vigil_watchlist = watch  # type: ignore[attr-defined]
    return app
