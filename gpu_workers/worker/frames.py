"""What the worker does with frames, as a processor of the consumer runtime (``vigil.runtime``):
decode and check each frame, batch, infer, and write each batch's detections, DLQ records and
consumed offsets into a transaction.

A batch closes when it is full, when no further frame is waiting (``worker.adaptive_batching``:
the engine never idles while a frame waits) or after ``worker.max_wait_ms``. A transaction
commits after every batch unless a full batch is queued behind it (through a backlog: when it
is ``worker.commit_interval_ms`` old); the commit runs in the background while the next batch
is inferred, and is settled before that batch's records are produced.
When partitions are revoked the open transaction is committed first (the partitions are still
ours inside the hook), then the revoked partitions' queued frames are dropped: their offsets
stay uncommitted and the new owner processes them. When partitions are lost the open
transaction is aborted (its offsets can no longer be committed) and the worker rewinds. An
error that requires abort aborts and rewinds every partition to its committed offset; a fatal
one (fenced by a newer instance) ends the worker. Holding ``worker.max_pending_frames`` frames
raises :class:`Backpressure` until half are done: the loop pauses intake and keeps polling, so
the group never evicts the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker import intake
from gpu_workers.worker.batcher import Batcher
from gpu_workers.worker.device import DeviceIntake, Raw
from gpu_workers.worker.gate import MotionGate
from gpu_workers.worker.inference import Inference, Item
from gpu_workers.worker.intake import Limits, Rejected
from gpu_workers.worker.isolate import describe
from gpu_workers.worker.items import (
    Outgoing,
    Txn,
    WorkItem,
    decode_item,
    infer_isolated,
    wait_decodes,
)
from gpu_workers.worker.metrics import (
    BATCH_SIZE,
    DLQ,
    END_TO_END,
    FRAME_WAIT,
    FRAMES,
    STAGE_SECONDS,
    Progress,
)
from gpu_workers.worker.transactions import Transactions, must_raise
from schemas.contracts import serde_for
from schemas.serde import SerdeError
from schemas.types import DetectionEvent, FrameEvent
from vigil import kafka
from vigil.blobs import BlobResolver
from vigil.dlq import dead_letter
from vigil.framecheck import FieldError, check_event
from vigil.runtime import Backpressure, ConsumerLoop, Processor
from vigil.settings import TopicSettings
from vigil.topics import Topic

log = logging.getLogger("vigil.worker")
COMPONENT = "worker"
Admit = Callable[[FrameEvent], bool]
Offsets = dict[tuple[str, int], int]


@dataclass(frozen=True)
class Outputs:
    """Where detections and dead letters go (production's topics, or the candidates')."""

    detections: str
    dlq: str

    @classmethod
    def of(cls, topics: TopicSettings) -> Outputs:
        return cls(Topic.DETECTIONS.name_in(topics), Topic.DLQ.name_in(topics))


def admit_all(_event: FrameEvent) -> bool:
    return True


class FrameProcessor(Processor):
    """``admit`` decides which decoded frames are inferred (the others are consumed and
    committed unprocessed: a replay's time range and cameras); ``on_commit`` hears the offsets
    of every committed transaction."""

    def __init__(
        self,
        settings: GpuWorkersSettings,
        inference: Inference,
        producer: Producer,
        loop: ConsumerLoop,
        outputs: Outputs,
        *,
        admit: Admit = admit_all,
        on_commit: Callable[[Offsets], None] | None = None,
    ) -> None:
        cfg = settings.worker
        self.settings = settings
        self.inference = inference
        self.gate = MotionGate(cfg.motion, cfg.face_cameras)
        self.loop = loop
        self.outputs = outputs
        self.admit = admit
        self.on_commit = on_commit
        self.frames_serde = serde_for(settings, Topic.FRAMES)
        self.det_serde = serde_for(settings, Topic.DETECTIONS)
        self.resolver = BlobResolver.from_settings(settings)
        self.limits = Limits(cfg.max_image_bytes, cfg.max_pixels)
        self.batcher: Batcher[WorkItem] = Batcher(inference.max_batch, cfg.max_wait_ms / 1000.0)
        self.pool = ThreadPoolExecutor(cfg.decode_threads, thread_name_prefix="decode")
        device = inference.device  # the torch path (worker.preprocess): decoded on a device
        self.device_intake = DeviceIntake(device) if device is not None else None
        self.txns = Transactions(producer, cfg.commit_interval_ms / 1000.0)
        self.committed_frames = 0
        self.aborted = 0
        self.revoked = 0  # partitions taken away (or lost) since start
        self.max_queued = 0
        self.rates = Progress()
        self.adaptive = cfg.adaptive_batching
        self._congested = False
        self._asked = 0  # records the last poll asked for, and how many came
        self._arrived = 0
        # hooks of a hot swap (``swap``): before each step (switch at a transaction boundary),
        # on each assignment (catch up with production first); records for the next transaction
        self.before_step: Callable[[], None] | None = None
        self.on_assigned: Callable[[list[TopicPartition]], None] | None = None
        self.outgoing: list[Outgoing] = []

    # -- the runtime's hooks ------------------------------------------------------------------

    def poll_limits(self) -> tuple[int, float]:
        # consume() returns early only with a full count: never wait longer than a batch may
        now = time.monotonic()
        wait = self.batcher.wait_s(now) if len(self.batcher) else self.batcher.max_wait_s
        if self.txns.committing:  # settle the background commit soon after it finishes
            wait = min(wait, 0.005)
        self._asked = 4 * self.batcher.max_batch
        return self._asked, self.txns.wait_s(now, wait)

    def process(self, message: Message) -> None:
        self._arrived += 1
        self.batcher.add(self.accept(message), time.monotonic())

    def skip(self, message: Message) -> None:
        """Consume ``message`` without inferring it: its offset commits with the next batch."""
        self._arrived += 1
        self.batcher.add(WorkItem(message, skipped=True), time.monotonic())

    def step(self) -> None:
        """One batch per poll at most (the group sees us often), or a commit when due; then
        backpressure while ``max_pending_frames`` are held, until half of them are done."""
        if self.before_step is not None:
            self.before_step()
        now = time.monotonic()
        drained = self._arrived < self._asked  # the last poll found no more frames waiting
        self._arrived = 0
        if self.batcher.ready(now, drained=drained and self.adaptive):
            self._process(self._take(now))
        elif self.txns.finished:
            self._settle()
        elif self.txns.due(len(self.batcher), self.batcher.max_batch):
            self.commit_open(background=True)
        self.rates.report(self.committed_frames)
        limit = self.settings.worker.max_pending_frames
        queued = len(self.batcher)
        self.max_queued = max(self.max_queued, queued)
        if queued >= limit:
            self._congested = True
        elif queued <= limit // 2:
            self._congested = False
        if self._congested:
            raise Backpressure(f"{queued} frames held", 0.0)

    def drain(self, deadline: float) -> None:
        """Finish and commit what is queued: SIGTERM loses nothing (within the deadline)."""
        while len(self.batcher) and time.monotonic() < deadline:
            self._process(self._take(time.monotonic()))
        self.commit_open()

    def _take(self, now: float) -> list[WorkItem]:
        """The next batch; each frame's wait in the batcher is observed."""
        timed = self.batcher.take_timed(now)
        for _item, waited in timed:
            FRAME_WAIT.labels("batch").observe(waited)
        return [item for item, _ in timed]

    def on_assign(self, partitions: list[TopicPartition]) -> list[TopicPartition] | None:
        if self.on_assigned is not None:
            self.on_assigned(partitions)
        return None

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Commit while the partitions are still ours, then drop the revoked partitions'
        queued frames; their offsets stay uncommitted for the new owner."""
        self.revoked += len(partitions)
        self.commit_open()
        self.gate.reset()
        gone = {(p.topic, p.partition) for p in partitions}
        dropped = self._drop(lambda item: item.key in gone)
        log.info("revoked %s (%d queued frames left)", sorted(p for _, p in gone), dropped)

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self.revoked += len(partitions)
        self.gate.reset()
        try:
            self._settle_or_raise()
        except KafkaException as exc:  # reopened: aborted below
            log.warning("commit in flight when partitions were lost: %s", exc)
        if self.txns.open is not None:  # its offsets cannot be committed any more: abort only
            self.txns.abort()
            self._rewind()
        gone = {(p.topic, p.partition) for p in partitions}
        dropped = self._drop(lambda item: item.key in gone)
        log.warning("lost %s (%d queued frames dropped)", sorted(p for _, p in gone), dropped)

    @property
    def pending(self) -> int:
        """Frames consumed and not yet in a transaction."""
        return len(self.batcher)

    def close(self) -> None:
        """Only on an error path (a clean stop commits first): abort what is open; stop the
        decode pool."""
        try:
            self._settle_or_raise()
        except (KafkaException, BufferError) as exc:  # reopened: aborted below
            log.warning("commit in flight on close: %s", exc)
        if self.txns.open is not None:
            try:
                self.txns.abort()
            except KafkaException as exc:
                log.warning("abort on close: %s", exc)
                self.txns.open = None
        self.txns.close()
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- one frame ----------------------------------------------------------------------------

    def accept(self, message: Message) -> WorkItem:
        """Decode the event, resolve the image, check its header; queue its decode."""
        try:
            event = self.frames_serde.decode(message)
        except SerdeError as exc:
            return WorkItem(message, error=Rejected("avro_undecodable", str(exc)))
        capture = event.get("capture_ts_ms")
        if isinstance(capture, int):  # capture -> consumed: producer, broker and fetch
            FRAME_WAIT.labels("queue").observe(max(0, time.time_ns() // 1_000_000 - capture) / 1000)
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
        if self.device_intake is not None:  # decoded with its batch, on the device
            return WorkItem(message, raw=Raw(event, data, header, scale))
        return WorkItem(message, future=self.pool.submit(decode_item, event, data, header, scale))

    # -- batches into transactions ------------------------------------------------------------

    def _process(self, items: list[WorkItem]) -> None:
        """Infer one batch and write its detections, DLQ records and offsets into the open
        transaction (begun if none); commit when due."""
        t0 = time.perf_counter()
        ready, dead = wait_decodes(items, self.device_intake)
        STAGE_SECONDS.labels("decode").observe(time.perf_counter() - t0)
        BATCH_SIZE.observe(len(ready))
        encoded, failed = infer_isolated(self._infer, ready)
        dead.extend(failed)
        events = [ev for ev, _ in encoded]
        if not self._settle():  # the commit in flight failed: rewound, this batch is read again
            return
        try:
            txn = self.txns.begin()
            for out in self.outgoing:  # until a transaction carrying it commits
                if out not in txn.carried:
                    kafka.produce(self.txns.producer, out.topic, out.value, key=out.key)
                    txn.carried.append(out)
            for ev, value in encoded:
                kafka.produce(
                    self.txns.producer, self.outputs.detections, value, key=ev["camera_id"]
                )
            for item, err in dead:
                dead_letter(self.txns.producer, self.outputs.dlq, item.message, err, COMPONENT)
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
        if self.txns.due(len(self.batcher), self.batcher.max_batch):
            self.commit_open(background=True)

    def _infer(self, batch: Sequence[Item]) -> list[tuple[DetectionEvent, bytes]]:
        """Detections of ``batch``, serialized: whatever raises here is isolated to its frame."""
        topic = self.outputs.detections
        events = self.gate.run(batch, self.inference.run)  # frames without motion are carried
        return [(ev, self.det_serde.serialize(ev, topic=topic)) for ev in events]

    def commit_open(self, *, background: bool = False) -> bool:
        """Commit the open transaction (after settling one in flight); ``background``: only
        start it (:meth:`_settle` finishes it). On an abortable error abort and rewind.
        Returns whether the work is committed or committing (True when nothing was open)."""
        if not self._settle():
            return False
        try:
            if background:
                self.txns.commit_async(self.loop.consumer.consumer_group_metadata())
                return True
            txn = self.txns.commit(self.loop.consumer.consumer_group_metadata())
        except (KafkaException, BufferError) as exc:
            self._abort(exc)
            return False
        if txn is not None:
            self._committed(txn)
        return True

    def _settle(self) -> bool:
        """Settle the commit in flight, if any; False when it failed (aborted, rewound)."""
        try:
            self._settle_or_raise()
        except (KafkaException, BufferError) as exc:
            self._abort(exc)
            return False
        return True

    def _settle_or_raise(self) -> None:
        txn = self.txns.settle()
        if txn is not None:
            self._committed(txn)

    def _committed(self, txn: Txn) -> None:
        done_ms = time.time_ns() // 1_000_000
        for capture in txn.captures:
            END_TO_END.observe(max(0, done_ms - capture) / 1000.0)
        FRAMES.labels("detected").inc(len(txn.captures))
        FRAMES.labels("dlq").inc(len(txn.reasons))
        for reason in txn.reasons:
            DLQ.labels(reason).inc()
        self.committed_frames += txn.frames
        if txn.carried:
            self.outgoing = [out for out in self.outgoing if out not in txn.carried]
        if self.on_commit is not None and txn.offsets:
            self.on_commit(dict(txn.offsets))

    def _abort(self, exc: BaseException) -> None:
        """Abortable: abort, forget the queue, rewind to the committed offsets. Fatal (fenced
        by a newer instance with our transactional.id): re-raise, the worker stops."""
        if must_raise(exc):
            raise exc
        log.warning("transaction aborted (%s); rewinding to the committed offsets", exc)
        self.txns.abort()
        self.aborted += 1
        self._rewind()

    def _rewind(self) -> None:
        """After an abort: forget every queued frame and re-read from the committed offsets;
        the motion gate forgets what the rolled-back frames showed."""
        self.gate.reset()
        self._drop(lambda _item: True)
        self.loop.rewind()

    def _drop(self, predicate: Callable[[WorkItem], bool]) -> int:
        dropped = self.batcher.drop(predicate)
        for work in dropped:
            if work.future is not None:
                work.future.cancel()
        return len(dropped)
