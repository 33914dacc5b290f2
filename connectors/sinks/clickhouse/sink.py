"""What ``vigil sink clickhouse`` does, as a processor of the consumer runtime
(``vigil.runtime``, which owns polling, pause/resume and shutdown): resume from what
ClickHouse holds, batch, insert, and only then commit offsets to Kafka.

- On assignment each partition starts at max(committed offset, the lowest next offset among
  the tables its topic feeds); the writer then skips rows a table already holds.
- Malformed events go to the DLQ with the reason; their offsets count as done.
- When ClickHouse fails or is slow, the sink raises :class:`Backpressure`: every assigned
  partition is paused (the consumer keeps polling, so it stays in its group), the batch is
  retried with exponential backoff, and the partitions resume after the first successful
  write. Memory is bounded by the batch.
- On revocation the batch is flushed once; if that fails, the revoked partitions' part of it
  is dropped uncommitted and their new owner resumes from ClickHouse. On loss: dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from prometheus_client import Counter, Gauge

from connectors.sinks.base import BatchPolicy, SinkBackpressureError
from connectors.sinks.clickhouse.ddl import Cluster
from connectors.sinks.clickhouse.rows import TABLES_OF, MalformedEvent, Mapped, empty, map_event
from connectors.sinks.clickhouse.schema import Capabilities, Retention, migrate
from connectors.sinks.clickhouse.settings import SinkProcessSettings
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from schemas.contracts import serde_for
from schemas.serde import AvroSerde, SerdeError
from vigil import kafka
from vigil.clickhouse import ClickHouseClient
from vigil.dlq import dead_letter
from vigil.runtime import Backpressure, ConsumerLoop, ConsumerMetrics, Processor
from vigil.topics import Topic

log = logging.getLogger(__name__)
COMPONENT = "clickhouse-sink"

HEALTHY = Gauge(
    "vigil_sink_clickhouse_healthy", "1 while ClickHouse takes writes, 0 while retrying"
)
BUFFERED = Gauge("vigil_sink_clickhouse_buffered_rows", "Rows waiting in the current batch")
# vigil_sink_clickhouse_messages_total, _consumer_lag, _paused_partitions, _rebalances_total
CONSUMER = ConsumerMetrics.named("vigil_sink_clickhouse")
DEAD_LETTERS = Counter("vigil_sink_clickhouse_dlq_total", "Messages sent to the DLQ", ["topic"])
RETRIES = Counter("vigil_sink_clickhouse_retries_total", "Batch writes retried after a failure")
COMMITS = Counter("vigil_sink_clickhouse_commits_total", "Offset commits after a written batch")


@dataclass(frozen=True)
class SinkStats:
    messages: int
    rows: int
    dead_letters: int
    batches: int


class ClickHouseSink(Processor):
    """One sink process: a consumer in ``group_id`` over the detections, alerts and drift
    topics (those that exist), writing to ``client``."""

    def __init__(
        self,
        settings: SinkProcessSettings,
        client: ClickHouseClient,
        *,
        topics: list[Topic] | None = None,
    ) -> None:
        conf = settings.clickhouse_sink
        self.settings = settings
        self.client = client
        self.db = settings.clickhouse.database
        self.kinds = {
            t.name_in(settings.topics): t
            for t in (topics or [Topic.DETECTIONS, Topic.ALERTS, Topic.DRIFT])
        }
        self.tables = {name: TABLES_OF[kind] for name, kind in self.kinds.items()}
        self.serdes: dict[str, AvroSerde] = {
            name: serde_for(settings, kind) for name, kind in self.kinds.items()
        }
        self.dlq_topic = Topic.DLQ.name_in(settings.topics)
        self.cluster = Cluster.of(settings.clickhouse)
        self.writer = ClickHouseWriter(
            client,
            self.db,
            BatchPolicy(conf.batch_max_rows, conf.batch_max_s),
            replicated=self.cluster is not None,
        )
        self.retention = Retention(conf.personal_ttl_hours, conf.aggregate_ttl_days)
        self._retry = (conf.retry_initial_s, conf.retry_max_s)
        self._shutdown_s = conf.shutdown_timeout_s
        self._loop: ConsumerLoop | None = None
        self._producer: Producer | None = None
        self._starts: dict[tuple[str, int], int] = {}  # where each partition resumed
        self._retrying = False  # a write failed: the loop holds intake until the retry works
        self._backoff = self._retry[0]
        self._messages = self._rows = self._dlq = self._batches = 0
        self._dlq_failures: list[str] = []
        self.caps: Capabilities | None = None

    @property
    def stats(self) -> SinkStats:
        return SinkStats(self._messages, self._rows, self._dlq, self._batches)

    @property
    def idle(self) -> bool:
        """Nothing buffered and no retry pending."""
        return not self.writer.items and not self._retrying

    def positions(self) -> dict[tuple[str, int], int]:
        """The next offset to read per assigned partition (call from the loop's thread); a
        partition nothing was read from yet is where it resumed (librdkafka knows no position)."""
        if self._loop is None or not self._loop.assignment:
            return {}
        parts = sorted(self._loop.assignment, key=lambda tp: (tp.topic, tp.partition))
        return {
            (tp.topic, tp.partition): max(tp.offset, self._starts.get((tp.topic, tp.partition), -1))
            for tp in self._loop.consumer.position(parts)
        }

    # -- start-up ---------------------------------------------------------------------------
    def prepare(self) -> Capabilities:
        """Apply migrations (retrying while ClickHouse is unreachable is the caller's job)."""
        return self.adopt(migrate(self.client, self.db, self.retention, self.cluster))

    def adopt(self, caps: Capabilities) -> Capabilities:
        """Use what the (already migrated) backend supports."""
        self.caps = caps
        self.writer.dedup_tokens = caps.dedup_token
        return caps

    def _present_topics(self, consumer: Consumer) -> list[str]:
        existing = consumer.list_topics(timeout=10).topics
        return [name for name in self.kinds if name in existing]

    # -- rebalance hooks -----------------------------------------------------------------------
    def on_assign(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Start each partition at max(committed offset, what ClickHouse holds)."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        starts: dict[tuple[str, int], int] = {}
        try:
            starts = self.writer.resume_offsets(keys, self.tables)
        except Exception as exc:  # the writer still skips what is stored before each insert
            log.warning("cannot read resume offsets from ClickHouse (%r); using commits", exc)
            self.writer.forget(keys)
        committed: dict[tuple[str, int], int] = {}
        try:
            committed = {
                (tp.topic, tp.partition): tp.offset
                for tp in self._running().consumer.committed(partitions, 30)
            }
        except KafkaException as exc:  # librdkafka falls back to the committed offsets itself
            log.warning("cannot read committed offsets (%r)", exc)
        assign = []
        for key in keys:
            done = committed.get(key, OFFSET_INVALID)
            start = max(done if done >= 0 else -1, starts.get(key, -1))
            self._starts[key] = start
            assign.append(TopicPartition(key[0], key[1], start if start > 0 else OFFSET_INVALID))
        log.info("resuming at %s", [(tp.topic, tp.partition, tp.offset) for tp in assign])
        return assign

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        if any((m.topic, m.partition) in keys for m in self.writer.items):
            try:
                self._flush()
            except SinkBackpressureError as exc:
                log.warning("revoked with an unwritten batch (%s); its owner re-reads it", exc)
        self._drop(keys)

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self._drop({(tp.topic, tp.partition) for tp in partitions})

    def _drop(self, keys: set[tuple[str, int]]) -> None:
        self.writer.discard(lambda m: (m.topic, m.partition) in keys, lambda m: m.row_count)
        self.writer.forget(keys)
        for key in keys:
            self._starts.pop(key, None)

    # -- one message ------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        topic, partition, offset = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
        src = (topic, partition, offset)
        self._messages += 1
        try:
            record = self.serdes[topic].decode(msg)
            mapped = map_event(self.kinds[topic], record, src)
        except (SerdeError, MalformedEvent) as exc:
            if self._producer is None:
                raise RuntimeError("sink is not running") from exc
            dead_letter(self._producer, self.dlq_topic, msg, exc, COMPONENT)
            DEAD_LETTERS.labels(topic).inc()
            self._dlq += 1
            mapped = empty(src)
        self.writer.add(mapped, mapped.row_count)  # the gauge is set once per poll, in step()

    def _dlq_delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._dlq_failures.append(f"{msg.topic()}: {err}")

    # -- flushing ---------------------------------------------------------------------------
    def _flush(self) -> None:
        """Write the batch, make DLQ records durable, then commit the batch's offsets."""
        if not self.writer.items:
            return
        if self._producer is not None and self._producer.flush(30) > 0:
            raise SinkBackpressureError("DLQ records not delivered yet", 1.0)
        if self._dlq_failures:  # never commit past a record that reached neither table nor DLQ
            raise RuntimeError(f"DLQ delivery failed: {self._dlq_failures[:3]}")
        batch = self.writer.flush()
        self._rows += sum(m.row_count for m in batch)
        self._batches += 1
        BUFFERED.set(self.writer.rows)
        self._commit(batch)

    def _commit(self, batch: list[Mapped]) -> None:
        if self._loop is None:
            return
        ends: dict[tuple[str, int], int] = {}
        for m in batch:
            ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), -1), m.offset)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in ends.items()]
        try:
            self._loop.consumer.commit(offsets=offsets, asynchronous=False)
            COMMITS.inc()
        except Exception as exc:  # ClickHouse holds the truth; the next owner resumes from it
            log.warning("offset commit failed (%r); resume will use ClickHouse", exc)

    def _running(self) -> ConsumerLoop:
        if self._loop is None:
            raise RuntimeError("sink is not running")
        return self._loop

    # -- the runtime's hooks ----------------------------------------------------------------
    def poll_limits(self) -> tuple[int, float]:
        # Paused partitions deliver nothing (a few prefetched records at most, which are kept),
        # so the batch stays bounded while polling keeps the consumer in its group.
        return max(1, min(1000, self.writer.policy.max_rows - self.writer.rows)), 0.1

    def step(self) -> None:
        """Flush when due, or retry the failed write (the loop calls this once the backoff
        has passed); a failure raises :class:`Backpressure` with the next backoff."""
        BUFFERED.set(self.writer.rows)
        if not (self._retrying or self.writer.due()):
            return
        try:
            self._flush()
        except SinkBackpressureError as exc:
            HEALTHY.set(0)
            RETRIES.inc()
            log.warning("ClickHouse write failed, retrying in %.1fs: %s", self._backoff, exc)
            retry_after = max(self._backoff, exc.retry_after)
            self._backoff = min(self._backoff * 2, self._retry[1])
            self._retrying = True
            raise Backpressure(str(exc), retry_after) from exc
        if self._retrying:
            self._retrying = False
            self._backoff = self._retry[0]
            log.info("ClickHouse takes writes again; partitions resumed")
        HEALTHY.set(1)

    def drain(self, deadline: float) -> None:
        """Flush what is buffered, retrying until ``deadline``; what is left stays uncommitted
        and the next start re-reads it."""
        while self.writer.items and time.monotonic() < deadline:
            try:
                self._flush()
            except SinkBackpressureError as exc:
                log.warning("final flush failed (%s); retrying until the shutdown timeout", exc)
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        if self.writer.items:
            log.error(
                "left %d unwritten messages uncommitted; the next start re-reads them",
                len(self.writer.items),
            )

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, idle: Callable[[], None] | None = None) -> SinkStats:
        """Consume until ``stop`` is set; then flush what is buffered (bounded) and leave."""
        conf = self.settings.clickhouse_sink
        consumer = kafka.consumer(
            self.settings, conf.group_id, **{"session.timeout.ms": conf.session_timeout_ms}
        )
        self._producer = kafka.producer(self.settings, on_delivery=self._dlq_delivered)
        self._loop = ConsumerLoop(consumer, CONSUMER, stop=stop, drain_timeout_s=self._shutdown_s)
        try:
            topics = self._present_topics(consumer)
            if not topics:
                raise RuntimeError(f"none of the sink's topics exist: {sorted(self.kinds)}")
            self._loop.subscribe(topics)
            HEALTHY.set(1)
            self._loop.run(self, after_poll=idle)
        finally:
            self._loop.close()
            self._producer.flush(10)
        return self.stats
