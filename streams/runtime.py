"""The stream apps' runtime: a Quix Streams ``Application`` per app, exactly-once.

Each app is one stateful step over ``vigil.detections``: raw bytes in (decoded with Vigil's
serde, so an undecodable event becomes a DLQ record with the reason), a list of
:class:`Output` records out, each naming its topic. Quix Streams keeps the step's state in
RocksDB with a changelog topic and commits, in one Kafka transaction per checkpoint, the
changelog records, every output and the consumed offsets. So for a ``read_committed`` reader an
event's effects appear exactly once, whatever crashed when; and the source is read
``read_committed`` too, so detections of an aborted worker transaction are never seen.

Connection and security come from the same ``kafka`` settings as every other Vigil client
(SASL and TLS included); ``kafka.client_options`` pass through to both clients. The
transactional id is stable per host and state directory, so a restarted instance fences its
crashed predecessor and aborts that one's open transaction at once instead of after
``transaction.timeout.ms``."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from confluent_kafka import KafkaException
from prometheus_client import Counter
from quixstreams import Application, message_context
from quixstreams.checkpointing.exceptions import CheckpointProducerTimeout
from quixstreams.exceptions import PartitionAssignmentError
from quixstreams.internal_producer import InternalProducer, KafkaProducerTransactionCommitFailed
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.kafka.exceptions import BaseKafkaException, KafkaBrokerUnavailableError
from quixstreams.models import Topic as QuixTopic
from quixstreams.models.serializers import SerializationContext, Serializer
from quixstreams.models.topics.exceptions import TopicNotFoundError
from quixstreams.state import State

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from schemas.types import DetectionEvent
from vigil import kafka
from vigil.dlq import header_pairs, reason_headers
from vigil.settings import CoreSettings
from vigil.topics import Topic

log = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]

# librdkafka options that describe the connection; everything else is per client
_CONNECTION_KEYS = ("bootstrap.servers", "security.protocol", "sasl.", "ssl.")


@dataclass(frozen=True)
class Output:
    """One record a step produces: the topic's full name, the value's bytes, its headers.
    The key is always the source record's key (the camera id)."""

    topic: str
    value: bytes
    headers: Headers = ()


@dataclass(frozen=True)
class Source:
    """The record being processed, as the DLQ needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Any  # as the client gave them; converted only for a DLQ record


Step = Callable[[Source, State[Any, Any]], list[Output]]


class _OutputSerializer(Serializer):
    """Outputs are serialized by the step (Avro, Vigil's serde): their bytes go out as they are."""

    def __call__(self, value: Output, ctx: SerializationContext) -> bytes:
        return value.value


def dead_letter(source: Source, error: BaseException, component: str, dlq_topic: str) -> Output:
    """The source record, unchanged, for ``vigil.dlq``: its headers, then the reason."""
    reason = reason_headers(
        error,
        component,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
    )
    return Output(dlq_topic, source.value, tuple(header_pairs(source.headers) + reason))


class DetectionStep(ABC):
    """A step over ``vigil.detections``: decodes each event and hands it to :meth:`apply`; an
    event without a key (the camera id), one that does not decode, or one ``apply`` cannot use
    (a data error) becomes its DLQ record instead. Errors are data, never a stall, and the
    state is untouched: Quix Streams only keeps what ``apply`` set once it returned."""

    DATA_ERRORS = (ValueError, KeyError, TypeError, ArithmeticError)

    def __init__(self, settings: CoreSettings, component: str, dead_lettered: Counter) -> None:
        self.component = component
        self.dead_lettered = dead_lettered
        self.detections = serde_for(settings, Topic.DETECTIONS)
        self.dlq_topic = Topic.DLQ.name_in(settings.topics)

    def __call__(self, source: Source, state: State[Any, Any]) -> list[Output]:
        if source.key is None:
            return self._dead_letter(source, ValueError("no key: detections are keyed by camera"))
        try:
            record = self.detections.deserialize(
                source.value, topic=source.topic, partition=source.partition, offset=source.offset
            )
        except SerdeError as exc:
            return self._dead_letter(source, exc)
        try:
            # the serde resolved it against the DetectionEvent schema: every field is there
            return self.apply(cast(DetectionEvent, record), source, state)
        except self.DATA_ERRORS as exc:
            return self._dead_letter(source, exc)

    @abstractmethod
    def apply(self, record: DetectionEvent, source: Source, state: State[Any, Any]) -> list[Output]:
        """The outputs of one decoded DetectionEvent."""

    def _dead_letter(self, source: Source, exc: Exception) -> list[Output]:
        self.dead_lettered.inc()
        log.warning(
            "%s dead-lettered %s/%s: %r", self.component, source.partition, source.offset, exc
        )
        return [dead_letter(source, exc, self.component, self.dlq_topic)]


def transactional_id(group: str, state_dir: Path) -> str:
    """Stable across restarts of one instance (same host, same state directory), distinct
    between instances: a restart fences the crashed predecessor's open transaction."""
    where = f"{socket.gethostname()}:{state_dir.resolve()}"
    return f"{group}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def connection(settings: CoreSettings) -> tuple[ConnectionConfig, dict[str, Any]]:
    """Vigil's Kafka settings as Quix's connection config, plus the remaining client options."""
    conf = settings.kafka.client_config()
    conn = {k: v for k, v in conf.items() if k.startswith(_CONNECTION_KEYS)}
    extras = {k: v for k, v in conf.items() if not k.startswith(_CONNECTION_KEYS)}
    return ConnectionConfig.from_librdkafka_dict(conn), extras


class AppSettings(Protocol):
    """What a stream app's settings section says about its runtime (``alerting``, ``drift``)."""

    @property
    def commit_interval_s(self) -> float: ...
    @property
    def session_timeout_s(self) -> float: ...
    @property
    def transaction_timeout_s(self) -> float: ...


def application(
    settings: CoreSettings,
    cfg: AppSettings,
    *,
    group: str,
    state_dir: Path,
    loglevel: str = "WARNING",
) -> Application:
    """The Quix Streams application for one stream app: exactly-once, ``read_committed``,
    from the earliest offset of a new group, state under ``state_dir``."""
    conn, extras = connection(settings)
    state_dir.mkdir(parents=True, exist_ok=True)
    session_ms = int(cfg.session_timeout_s * 1000)
    consumer = {
        **extras,
        "isolation.level": "read_committed",
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(100, session_ms // 4),
    }
    producer = {
        **extras,
        "transactional.id": transactional_id(group, state_dir),
        "transaction.timeout.ms": int(cfg.transaction_timeout_s * 1000),
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": settings.topics.max_message_bytes,
    }
    return Application(
        broker_address=conn,
        consumer_group=group,
        processing_guarantee="exactly-once",
        auto_offset_reset="earliest",
        commit_interval=cfg.commit_interval_s,
        state_dir=state_dir,
        consumer_extra_config=consumer,
        producer_extra_config=producer,
        loglevel=logging.getLevelNamesMapping().get(loglevel.upper(), logging.WARNING),
        consumer_poll_timeout=0.1,
    )


# Errors of the Kafka clients, not of Vigil's step (a step's error is dead-lettered per record):
# a delivery that timed out while a partition's leader moved, a transaction that could not
# commit, a broker that went away, a topic just created that the metadata does not show yet
# (the changelog Quix Streams creates at start-up, on a fresh cluster).
TRANSIENT: tuple[type[BaseException], ...] = (
    TopicNotFoundError,
    BaseKafkaException,
    KafkaProducerTransactionCommitFailed,
    CheckpointProducerTimeout,
    KafkaBrokerUnavailableError,
    KafkaException,
)

# Quix Streams commits a checkpoint's transaction off the rebalance path with no deadline
# (quixstreams 3.28: InternalProducer.commit_transaction(timeout=None) calls librdkafka's
# send_offsets_to_transaction and commit_transaction with -1, "block until done"). After a
# broker was hung and resumed, a drift app sat in send_offsets_to_transaction for 5 minutes
# (the fault suite, tests/faults). Bounded here: a commit not done in COMMIT_TIMEOUT_S fails
# the app with a Kafka error, :func:`run_app` rebuilds it, the new producer fences the old
# one and its transaction is aborted: the checkpoint is processed again, exactly once.
COMMIT_TIMEOUT_S = 60.0
_unbounded_commit = InternalProducer.commit_transaction


def _bounded_commit(
    self: InternalProducer, positions: Any, group_metadata: Any, timeout: float | None = None
) -> None:
    limit = COMMIT_TIMEOUT_S if timeout is None else timeout
    kafka.within(
        "a checkpoint's transaction commit",
        limit + 30.0,
        lambda: _unbounded_commit(self, positions, group_metadata, limit),
    )


InternalProducer.commit_transaction = _bounded_commit  # type: ignore[method-assign]


def transient(exc: BaseException) -> bool:
    """A Kafka client error (:data:`TRANSIENT`), also when Quix Streams wraps one raised in a
    rebalance callback (NOT_LEADER_FOR_PARTITION reading a watermark while leaders move)."""
    if isinstance(exc, PartitionAssignmentError):
        return exc.__cause__ is not None and transient(exc.__cause__)
    return isinstance(exc, TRANSIENT)


APP_RESTARTS = Counter(
    "vigil_stream_app_restarts_total",
    "A stream app rebuilt in-process after a Kafka client error: its failed checkpoint's "
    "transaction was aborted and it resumed from the last committed one",
    ["component", "error"],
)


class Runnable(Protocol):
    """What :func:`run_app` runs: a Quix ``Application``."""

    def run(self) -> object: ...


def run_app(
    make: Callable[[], Runnable],
    component: str,
    *,
    max_restarts: int = 10,
    window_s: float = 300.0,
    backoff_s: float = 1.0,
) -> None:
    """Run the app ``make`` builds until it stops (SIGTERM/SIGINT commit the last checkpoint).
    When the Kafka clients fail it (a checkpoint whose records timed out while a broker was
    lost or hung, a transaction that could not commit), that checkpoint is dropped: its
    transaction is aborted, nothing of it is visible to ``read_committed`` readers, and a new
    app resumes from the last committed checkpoint and the changelog. This is what a process
    restart would do, without one; Kafka Streams treats a task's producer timeout the same
    way. More than ``max_restarts`` failures within ``window_s`` re-raise the last error."""
    failures: list[float] = []
    while True:
        app = make()
        try:
            app.run()
            return
        except Exception as exc:
            if not transient(exc):
                raise
            now = time.monotonic()
            failures = [t for t in failures if now - t < window_s] + [now]
            if len(failures) > max_restarts:
                log.error(
                    "%s: %d Kafka failures in %.0f s, giving up", component, len(failures), window_s
                )
                raise
            APP_RESTARTS.labels(component, type(exc).__name__).inc()
            log.warning(
                "%s: the Kafka clients failed (%s: %s); the open checkpoint is aborted and the "
                "app resumes from the last committed one (%d of %d restarts in %.0f s)",
                component,
                type(exc).__name__,
                exc,
                len(failures),
                max_restarts,
                window_s,
            )
            time.sleep(backoff_s * len(failures))


def wire(
    app: Application,
    settings: CoreSettings,
    source: Topic,
    step: Step,
    outputs: Sequence[Topic],
    *,
    also: Sequence[str] = (),
) -> None:
    """Connect ``step`` from the ``source`` topic to the ``outputs`` (full names via settings).
    The key of every output is the key of the record it came from. ``also`` names more input
    topics (full names), concatenated before the step: they must be co-partitioned with
    ``source`` (same partition count and partitioner), so one key's records of every input
    meet in one state store (``step`` tells them apart by ``Source.topic``)."""
    names = settings.topics
    src = app.topic(source.name_in(names), key_deserializer="bytes", value_deserializer="bytes")
    serializer = _OutputSerializer()
    sinks: dict[str, QuixTopic] = {
        t.name_in(names): app.topic(
            t.name_in(names), key_serializer="bytes", value_serializer=serializer
        )
        for t in outputs
    }

    def apply(
        value: bytes, key: Any, timestamp: int, headers: Any, state: State[Any, Any]
    ) -> list[Output]:
        ctx = message_context()
        record = Source(ctx.topic, ctx.partition, ctx.offset, key, value, headers)
        return step(record, state)

    sdf = app.dataframe(src)
    for name in also:
        other = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        sdf = sdf.concat(app.dataframe(other))
    sdf = sdf.apply(apply, stateful=True, expand=True, metadata=True)
    sdf = sdf.set_headers(lambda value, key, ts, headers: list(value.headers))
    sdf.to_topic(lambda value, key, ts, headers: sinks[value.topic])
