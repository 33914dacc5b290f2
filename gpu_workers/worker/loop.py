"""The worker's Kafka side: a consumer group on the frames topic, one transactional producer
per worker instance, batches written into transactions with their offsets, rebalances,
backpressure and shutdown.

A transaction holds the detections, DLQ records and consumed offsets of one or more batches:
it commits as soon as nothing else is queued (low latency when idle) or when it is
``worker.commit_interval_ms`` old (amortised under load). When partitions are revoked the
open transaction is committed first (the partitions are still ours inside ``on_revoke``), then
the revoked partitions' queued frames are dropped: their offsets stay uncommitted and the new
owner processes them. When partitions are lost the open transaction is aborted (its offsets
can no longer be committed) and the worker rewinds. An error that requires abort aborts and
rewinds every partition to its committed offset; a fatal one (fenced by a newer instance)
ends the worker.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker import intake
from gpu_workers.worker.batcher import Batcher
from gpu_workers.worker.inference import Inference, Item
from gpu_workers.worker.intake import Limits, Rejected
from gpu_workers.worker.isolate import describe
from gpu_workers.worker.items import Txn, WorkItem, decode_item, infer_isolated, wait_decodes
from gpu_workers.worker.metrics import (
    BATCH_SIZE,
    DLQ,
    END_TO_END,
    FRAMES,
    PAUSED,
    REBALANCES,
    STAGE_SECONDS,
    TRANSACTIONS,
    Progress,
)
from schemas.contracts import serde_for
from schemas.serde import SerdeError
from schemas.types import DetectionEvent, FrameEvent
from vigil import kafka
from vigil.blobs import BlobResolver
from vigil.dlq import dead_letter
from vigil.framecheck import FieldError, check_event
from vigil.topics import Topic

log = logging.getLogger("vigil.worker")
COMPONENT = "worker"


def instance_id(settings: GpuWorkersSettings) -> str:
    return settings.worker.instance_id or socket.gethostname()


class Worker:
    def __init__(
        self,
        settings: GpuWorkersSettings,
        *,
        inference: Inference | None = None,
        instance: str | None = None,
        group_id: str | None = None,
        consumer_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        cfg = settings.worker
        self.instance = instance or instance_id(settings)
        self.group_id = group_id or cfg.group_id  # replay and shadow runs have their own
        self.inference = inference or Inference(settings)
        self.frames_topic = Topic.FRAMES.name_in(settings.topics)
        self.det_topic = Topic.DETECTIONS.name_in(settings.topics)
        self.dlq_topic = Topic.DLQ.name_in(settings.topics)
        self.frames_serde = serde_for(settings, Topic.FRAMES)
        self.det_serde = serde_for(settings, Topic.DETECTIONS)
        self.resolver = BlobResolver.from_settings(settings)
        self.limits = Limits(cfg.max_image_bytes, cfg.max_pixels)
        self.batcher: Batcher[WorkItem] = Batcher(
            self.inference.max_batch, cfg.max_wait_ms / 1000.0
        )
        self.pool = ThreadPoolExecutor(cfg.decode_threads, thread_name_prefix="decode")
        self.paused = False
        self.committed_frames = 0
        self.aborted = 0
        self.revoked = 0  # partitions taken away (or lost) since start
        self.pauses = 0
        self.max_queued = 0
        self.first_message_at: float | None = None  # monotonic; benches exclude the group join
        self.latencies_ms: deque[float] = deque(maxlen=10_000)  # capture -> committed, recent
        self.rates = Progress()
        self.stop_event = threading.Event()
        self._closed = False
        self._txn: Txn | None = None
        self.consumer: Consumer = kafka.consumer(
            settings,
            self.group_id,
            **{
                "queued.max.messages.kbytes": cfg.queued_max_kbytes,
                "fetch.max.bytes": cfg.fetch_max_bytes,
                "session.timeout.ms": cfg.session_timeout_ms,
                "max.poll.interval.ms": cfg.max_poll_interval_ms,
                "client.id": f"vigil-worker-{self.instance}",
                **(consumer_options or {}),
            },
        )
        self.producer = kafka.transactional_producer(
            settings,
            f"vigil-worker-{self.group_id}-{self.instance}",
            **{"transaction.timeout.ms": cfg.transaction_timeout_ms},
        )

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Until :meth:`stop`: poll, queue decodes, process every batch that is ready. On stop
        the queued frames are finished and committed, then the group is left cleanly."""
        self.start_consuming()
        log.info("worker %s consuming %s", self.instance, self.frames_topic)
        try:
            while not self.stop_event.is_set():
                self._poll_once()
            while len(self.batcher):  # finish what is queued: SIGTERM loses nothing
                self._process(self.batcher.take())
            self._commit_open()
        finally:
            self.close()

    def start_consuming(self) -> None:
        """Join the group; a replay assigns its planned partitions instead."""
        self.consumer.subscribe(
            [self.frames_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def admit(self, event: FrameEvent) -> bool:
        """Whether a decoded frame is inferred; others are consumed and committed unprocessed
        (a replay skips frames outside its capture-time range or cameras)."""
        return True

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._txn is not None:  # only on an error path: run() commits before it returns
            self._txn = None
            with contextlib.suppress(KafkaException):
                self.producer.abort_transaction(30)
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.consumer.close()  # leaves the group: partitions move at once
        self.producer.flush(10)

    def _poll_once(self) -> None:
        now = time.monotonic()
        self._flow_control()
        # consume() returns early only with a full count: never wait longer than a batch may
        wait = self.batcher.wait_s(now) if len(self.batcher) else self.batcher.max_wait_s
        if self._txn is not None:
            due = self._txn.started + self.settings.worker.commit_interval_ms / 1000.0
            wait = min(wait, max(0.0, due - now))
        messages = self.consumer.consume(4 * self.batcher.max_batch, min(0.1, wait))
        now = time.monotonic()
        for message in messages:
            error = message.error()
            if error is None:
                self.batcher.add(self._accept(message), now)
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer: %s", error)
        if self.batcher.ready(time.monotonic()):  # one batch per poll: the group sees us often
            self._process(self.batcher.take())
        elif self._commit_due():
            self._commit_open()
        self.rates.report(self.consumer, self.committed_frames)

    def _accept(self, message: Message) -> WorkItem:
        """Decode the event, resolve the image, check its header; queue its decode."""
        if self.first_message_at is None:
            self.first_message_at = time.monotonic()
        try:
            event = self.frames_serde.decode(message)
        except SerdeError as exc:
            return WorkItem(message, error=Rejected("avro_undecodable", str(exc)))
        try:
            return self._admit_checked(message, cast(FrameEvent, event))
        except Exception as exc:  # whatever this record does, it goes to the DLQ alone
            return WorkItem(message, error=Rejected("invalid_frame", describe(exc)))

    def _admit_checked(self, message: Message, event: FrameEvent) -> WorkItem:
        if not self.admit(event):
            return WorkItem(message, skipped=True)
        try:
            check_event(event)
        except FieldError as exc:
            return WorkItem(message, error=Rejected(exc.reason, exc.detail))
        try:
            data = self.resolver.resolve(event)
        except (OSError, ValueError) as exc:
            return WorkItem(message, error=Rejected("claim_check_unresolvable", str(exc)))
        try:
            header = intake.check(event, data, self.limits)
        except Rejected as exc:
            return WorkItem(message, error=exc)
        scale = (
            intake.reduction_for(header, self.inference.model_size)
            if self.settings.worker.scaled_decode
            else 1
        )
        return WorkItem(message, future=self.pool.submit(decode_item, event, data, header, scale))

    # -- batches into transactions ----------------------------------------------------------

    def _process(self, items: list[WorkItem]) -> None:
        """Infer one batch and write its detections, DLQ records and offsets into the open
        transaction (begun if none); commit when due (see :meth:`_commit_due`)."""
        t0 = time.perf_counter()
        ready, dead = wait_decodes(items)
        STAGE_SECONDS.labels("decode").observe(time.perf_counter() - t0)
        BATCH_SIZE.observe(len(ready))
        encoded, failed = infer_isolated(self._infer, ready)
        dead.extend(failed)
        events = [ev for ev, _ in encoded]
        try:
            txn = self._open()
            for ev, value in encoded:
                kafka.produce(self.producer, self.det_topic, value, key=ev["camera_id"])
            for item, err in dead:
                dead_letter(self.producer, self.dlq_topic, item.message, err, COMPONENT)
        except (KafkaException, BufferError) as exc:
            self._abort(exc)
            return
        for item in items:
            txn.offsets[item.key] = max(
                txn.offsets.get(item.key, -1), int(item.message.offset() or 0) + 1
            )
        txn.frames += len(items)
        txn.captures.extend(int(ev["capture_ts_ms"]) for ev in events)
        txn.reasons.extend(err.reason for _, err in dead)
        if self._commit_due():
            self._commit_open()

    def _infer(self, batch: Sequence[Item]) -> list[tuple[DetectionEvent, bytes]]:
        """Detections of ``batch``, serialized: whatever raises here is isolated to its frame."""
        return [
            (ev, self.det_serde.serialize(ev, topic=self.det_topic))
            for ev in self.inference.run(batch)
        ]

    def _open(self) -> Txn:
        if self._txn is None:
            self.producer.begin_transaction()
            self._txn = Txn(time.monotonic())
        return self._txn

    def _commit_due(self) -> bool:
        """Commit when nothing else is queued (low latency when idle) or when the transaction
        is ``commit_interval_ms`` old (amortised under load, as Kafka Streams does)."""
        txn = self._txn
        if txn is None:
            return False
        interval = self.settings.worker.commit_interval_ms / 1000.0
        return not len(self.batcher) or time.monotonic() - txn.started >= interval

    def _commit_open(self) -> bool:
        """Offsets into the transaction, then commit; on an abortable error abort and rewind.
        Returns whether the work is committed (True when nothing was open)."""
        txn = self._txn
        if txn is None:
            return True
        t0 = time.perf_counter()
        try:
            positions = [TopicPartition(t, p, o) for (t, p), o in txn.offsets.items()]
            self.producer.send_offsets_to_transaction(
                positions, self.consumer.consumer_group_metadata(), 30
            )
            self._commit()
        except (KafkaException, BufferError) as exc:
            self._abort(exc)
            return False
        self._txn = None
        TRANSACTIONS.labels("committed").inc()
        STAGE_SECONDS.labels("commit").observe(time.perf_counter() - t0)
        done_ms = time.time_ns() // 1_000_000
        for capture in txn.captures:
            waited = max(0, done_ms - capture)
            END_TO_END.observe(waited / 1000.0)
            self.latencies_ms.append(float(waited))
        FRAMES.labels("detected").inc(len(txn.captures))
        FRAMES.labels("dlq").inc(len(txn.reasons))
        for reason in txn.reasons:
            DLQ.labels(reason).inc()
        self.committed_frames += txn.frames
        return True

    def _abort(self, exc: BaseException) -> None:
        """Abortable: abort, forget the queue, rewind to the committed offsets. Fatal (fenced
        by a newer instance with our transactional.id): re-raise, the worker stops."""
        kerr = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        if isinstance(kerr, KafkaError) and kerr.fatal():
            TRANSACTIONS.labels("fatal").inc()
            raise exc
        if isinstance(kerr, KafkaError) and not kerr.txn_requires_abort() and not kerr.retriable():
            raise exc
        log.warning("transaction aborted (%s); rewinding to the committed offsets", exc)
        self.producer.abort_transaction(30)
        self._txn = None
        TRANSACTIONS.labels("aborted").inc()
        self.aborted += 1
        self._rewind()

    def _commit(self) -> None:
        while True:
            try:
                self.producer.commit_transaction(30)
                return
            except KafkaException as exc:
                if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].retriable():
                    continue
                raise

    def _rewind(self) -> None:
        """After an abort: forget every queued frame and re-read from the committed offsets."""
        self._drop(lambda _item: True)
        assigned = self.consumer.assignment()
        if not assigned:
            return
        for tp in self.consumer.committed(assigned, timeout=30):
            offset = tp.offset if tp.offset >= 0 else -2  # OFFSET_BEGINNING: nothing committed
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, offset))

    # -- rebalances and backpressure ------------------------------------------------------------

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        REBALANCES.labels("assigned").inc(len(partitions))
        log.info("assigned %s", [p.partition for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """No transaction is open here (see the module docstring): drop the revoked
        partitions' queued frames; their offsets stay uncommitted for the new owner."""
        REBALANCES.labels("revoked").inc(len(partitions))
        self.revoked += len(partitions)
        self._commit_open()  # finish-and-commit while the partitions are still ours
        gone = {(p.topic, p.partition) for p in partitions}
        dropped = self._drop(lambda item: item.key in gone)
        log.info("revoked %s (%d queued frames left)", sorted(p for _, p in gone), dropped)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        REBALANCES.labels("lost").inc(len(partitions))
        self.revoked += len(partitions)
        if self._txn is not None:  # its offsets cannot be committed any more: abort only
            self.producer.abort_transaction(30)
            self._txn = None
            TRANSACTIONS.labels("aborted").inc()
            self._rewind()
        gone = {(p.topic, p.partition) for p in partitions}
        dropped = self._drop(lambda item: item.key in gone)
        log.warning("lost %s (%d queued frames dropped)", sorted(p for _, p in gone), dropped)

    def _drop(self, predicate: Any) -> int:
        dropped = self.batcher.drop(predicate)
        for work in dropped:
            if work.future is not None:
                work.future.cancel()
        return len(dropped)

    def _flow_control(self) -> None:
        """Pause every assigned partition while the worker holds ``max_pending_frames``;
        resume at half. ``consume()`` keeps being called, so the group never evicts us."""
        limit = self.settings.worker.max_pending_frames
        queued = len(self.batcher)
        assigned = self.consumer.assignment()
        self.max_queued = max(self.max_queued, queued)
        if not self.paused and queued >= limit:
            self.paused = True
            self.pauses += 1
            log.debug("backpressure: pausing %d partitions", len(assigned))
        elif self.paused and queued <= limit // 2:
            self.paused = False
            if assigned:
                self.consumer.resume(assigned)
            PAUSED.set(0)
        if self.paused and assigned:
            self.consumer.pause(assigned)  # again each time: newly assigned ones too
            PAUSED.set(len(assigned))
