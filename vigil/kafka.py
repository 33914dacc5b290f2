"""The Kafka client factory: every producer, consumer and admin client in Vigil comes from here,
so security options, idempotence and isolation are set in one place."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from vigil.sections import ISOLATION, READ_COMMITTED
from vigil.settings import CoreSettings

# librdkafka's own log lines go through Python logging (structured, levelled), not raw stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("librdkafka")
log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]
DeliveryCallback = Callable[[Any, Any], None]


def _base(settings: CoreSettings) -> dict[str, Any]:
    return {**settings.kafka.client_config(), "logger": LIBRDKAFKA_LOGGER}


def admin(settings: CoreSettings, **overrides: Any) -> AdminClient:
    return AdminClient({**_base(settings), **overrides})


def producer(settings: CoreSettings, **overrides: Any) -> Producer:
    """An idempotent producer (acks=all): broker retries never duplicate or reorder."""
    conf = {
        **_base(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": settings.topics.max_message_bytes,
        **overrides,
    }
    return Producer(conf)


def transactional_producer(
    settings: CoreSettings, transactional_id: str, **overrides: Any
) -> Producer:
    """A producer for read-process-write transactions; ``init_transactions`` already done,
    retried (librdkafka allows it) while the transaction coordinator is still loading or
    moving: COORDINATOR_LOAD_IN_PROGRESS on a cluster just started, NOT_COORDINATOR or a
    timeout while a broker is lost."""
    prod = producer(settings, **{"transactional.id": transactional_id, **overrides})
    retrying(
        lambda: prod.init_transactions(30),
        _TRANSIENT_COORDINATOR,
        120.0,
        1.0,
        "transactions not initialised yet",
    )
    return prod


def consumer(settings: CoreSettings, group_id: str, **overrides: Any) -> Consumer:
    """A consumer that reads only committed records and commits offsets explicitly.

    ``isolation.level`` cannot be overridden: an aborted transaction must never be seen by any
    Vigil component (workers, the sink and the stream apps rely on it for exactly-once).
    Raises ``ValueError`` naming the option when an override or ``kafka.client_options`` tries.
    """
    _refuse_isolation(overrides.get(ISOLATION, READ_COMMITTED), "a consumer override")
    _refuse_isolation(
        settings.kafka.client_options.get(ISOLATION, READ_COMMITTED), "kafka.client_options"
    )
    conf = {
        **_base(settings),
        "group.id": group_id,
        ISOLATION: READ_COMMITTED,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        **overrides,
    }
    return Consumer(conf)


def _refuse_isolation(value: object, where: str) -> None:
    if value != READ_COMMITTED:
        raise ValueError(
            f"{ISOLATION}={value!r} from {where} is refused: every Vigil consumer reads "
            f"{READ_COMMITTED} (an aborted transaction must never be seen)"
        )


def produce(
    prod: Producer,
    topic: str,
    value: bytes | None,
    *,
    key: bytes | str | None = None,
    headers: Headers | None = None,
    on_delivery: DeliveryCallback | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Produce one record; a full local queue is drained with ``poll()`` and retried, never
    dropped. Raises ``BufferError`` only if the queue stays full for ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            prod.produce(
                topic, value=value, key=key, headers=list(headers or ()), on_delivery=on_delivery
            )
            return
        except BufferError:
            if time.monotonic() >= deadline:
                raise
            prod.poll(0.1)


def wait_until_ready(settings: CoreSettings, timeout_s: float = 30.0) -> None:
    """Block until a metadata request to the cluster succeeds."""
    client = admin(settings)
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            md = client.list_topics(timeout=min(5.0, max(0.5, deadline - time.monotonic())))
            if md.brokers:
                return
        except KafkaException as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(
        f"Kafka at {settings.kafka.bootstrap_servers} not ready after {timeout_s:.0f}s: {last}"
    )


_TRANSIENT_METADATA = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}


def end_offsets(cons: Consumer, topic: str, timeout_s: float = 30.0) -> list[TopicPartition]:
    """The high watermark of every partition of ``topic``. Retries the transient errors of a
    just-created topic (NOT_LEADER while leadership propagates)."""

    def read() -> list[TopicPartition]:
        parts = cons.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        return [
            TopicPartition(topic, p, cons.get_watermark_offsets(TopicPartition(topic, p), 5.0)[1])
            for p in sorted(parts)
        ]

    return retrying(read, _TRANSIENT_METADATA, timeout_s, 0.2)


# A group coordinator moving (its broker lost, hung or restarted) answers these until the new
# one has loaded the group's offsets.
_TRANSIENT_COORDINATOR = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._WAIT_COORD,
}


def committed(
    cons: Consumer, partitions: list[TopicPartition], timeout_s: float = 120.0
) -> list[TopicPartition]:
    """The group's committed offsets of ``partitions``, retried while its coordinator moves
    (a broker of the cluster lost or hung): ``Consumer.committed`` raises NOT_COORDINATOR
    or a timeout until the new coordinator has loaded the group. Raises after ``timeout_s``
    or at once for any other error."""
    return retrying(
        lambda: list(cons.committed(partitions, timeout=min(30.0, timeout_s))),
        _TRANSIENT_COORDINATOR,
        timeout_s,
        0.5,
        "committed offsets not readable yet",
    )


T = TypeVar("T")


def retrying(
    call: Callable[[], T],
    codes: set[int],
    timeout_s: float,
    interval_s: float,
    what: str | None = None,
) -> T:
    """``call()``, again every ``interval_s`` while it raises a non-fatal ``KafkaException``
    that is retriable or has one of ``codes``, for up to ``timeout_s``; ``what``: the warning
    logged at each retry (none when None). Any other error is raised at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except KafkaException as exc:
            err = exc.args[0]
            transient = (
                isinstance(err, KafkaError)
                and not err.fatal()
                and (err.retriable() or err.code() in codes)
            )
            if not transient or time.monotonic() > deadline:
                raise
            if what is not None:
                log.warning("%s (%s); retrying", what, err)
            time.sleep(interval_s)


WATCHDOG_EXIT = 75  # EX_TEMPFAIL: the supervisor (compose restart:, systemd) starts it again


def within(what: str, limit_s: float, call: Callable[[], Any]) -> Any:
    """``call()``, or the process exits ``WATCHDOG_EXIT`` if it has not returned after
    ``limit_s``. For librdkafka calls that can block past their own timeout:
    ``send_offsets_to_transaction`` while the group coordinator is down or was decommissioned
    (librdkafka issues #5456 and #5511, open in 2.14). Such a call cannot be interrupted; a
    restarted process fences the stuck producer and its transaction is aborted, so nothing is
    lost or doubled. Logged at CRITICAL with the reason before the exit."""

    def expire() -> None:
        log.critical(
            "%s blocked for %.0f s, past its own timeout (librdkafka #5456/#5511): exiting "
            "with %d so the process is restarted; its open transaction is aborted",
            what,
            limit_s,
            WATCHDOG_EXIT,
        )
        logging.shutdown()
        os._exit(WATCHDOG_EXIT)

    timer = threading.Timer(limit_s, expire)
    timer.daemon = True
    timer.start()
    try:
        return call()
    finally:
        timer.cancel()


class Landmarks:
    """The last offset per (topic, partition) a producer's records landed at: a delivery
    callback, then :func:`wait_visible` with what it saw."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, int], int] = {}
        self.errors: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.errors.append(str(err))
            return
        key = (str(msg.topic()), int(msg.partition() or 0))
        self.last[key] = max(self.last.get(key, -1), int(msg.offset() or 0))


def wait_visible(
    settings: CoreSettings, landed: dict[tuple[str, int], int], timeout_s: float = 30.0
) -> None:
    """Until a ``read_committed`` reader can reach each (topic, partition) past ``landed``'s
    offset. ``commit_transaction`` returns once the coordinator logged the commit; the commit
    markers reach the partitions a moment later, and until then the last stable offset (the
    end a ``read_committed`` reader sees) stays before the transaction's records, so a read
    right after a commit can miss them."""
    if not landed:
        return
    cons = consumer(settings, f"vigil-visible-{time.time_ns()}")
    deadline = time.monotonic() + timeout_s
    try:
        pending = dict(landed)
        while pending:
            for (topic, part), offset in list(pending.items()):
                stable = cons.get_watermark_offsets(TopicPartition(topic, part), 5.0)[1]
                if stable > offset:
                    del pending[(topic, part)]
            if pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"committed records not yet visible after {timeout_s}s")
                time.sleep(0.02)
    finally:
        cons.close()
