"""``vigil replay``: the worker loop over a planned, bounded stretch of the frames topic.

A replay assigns the planned partitions itself (no group rebalancing), in a fresh consumer
group whose start offsets it commits first, so a rewind after an aborted transaction goes back
to the plan and production groups' offsets are never read or written. Each batch still commits
its detections and offsets in one transaction. Frames outside the capture-time range or the
chosen cameras are consumed and skipped; the replay stops when every partition has reached its
planned end, and runs as fast as the engine allows (no pacing).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, TopicPartition

from gpu_workers.replay.bounds import ReplayPlan
from gpu_workers.replay.candidate import candidates_topics, slug
from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.inference import Inference, Item
from gpu_workers.worker.items import WorkItem
from gpu_workers.worker.loop import Worker
from schemas.types import DetectionEvent, FrameEvent
from vigil.topics import Topic


def retarget(worker: Worker, settings: GpuWorkersSettings) -> None:
    """Send a worker's detections and DLQ records to the candidates' topics."""
    topics = candidates_topics(settings)
    worker.det_topic = Topic.DETECTIONS.name_in(topics)
    worker.dlq_topic = Topic.DLQ.name_in(topics)


class TimedInference(Inference):
    """The worker's inference, with the time spent in it kept for the run's speed report."""

    def __init__(self, settings: GpuWorkersSettings) -> None:
        super().__init__(settings)
        self.frames = 0
        self.seconds = 0.0

    def run(self, items: Sequence[Item]) -> list[DetectionEvent]:
        t0 = time.perf_counter()
        out = super().run(items)
        self.seconds += time.perf_counter() - t0
        self.frames += len(items)
        return out

    @property
    def model(self) -> str:
        ident = self.detector.identity
        return f"{ident.name}@{ident.event_version}"


@dataclass(frozen=True)
class ReplayResult:
    model: str
    group_id: str
    output_topic: str
    planned: int  # offsets in the plan
    consumed: int  # messages read and committed
    replayed: int  # frames in range that were inferred
    skipped: int  # outside the time range or cameras
    elapsed_s: float
    infer_s: float

    @property
    def frames_per_s(self) -> float:
        return self.replayed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def infer_ms_per_frame(self) -> float:
        """Time in the model (pre- and post-processing included) per frame, in batches."""
        return 1000 * self.infer_s / self.replayed if self.replayed else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "frames_per_s": self.frames_per_s,
            "infer_ms_per_frame": self.infer_ms_per_frame,
        }


class Replayer(Worker):
    def __init__(
        self,
        settings: GpuWorkersSettings,
        plan: ReplayPlan,
        *,
        cameras: Sequence[str] = (),
        inference: TimedInference | None = None,
        group_id: str | None = None,
    ) -> None:
        self.timed = inference or TimedInference(settings)
        self.plan = plan
        self.cameras = frozenset(cameras)
        self.skipped = 0
        self.admitted = 0
        model = slug(self.timed.model.replace("@", "-"))
        group = group_id or f"{settings.replay.group_prefix}-{model}-{uuid.uuid4().hex[:8]}"
        parts = "-".join(str(p.partition) for p in plan.partitions)
        super().__init__(settings, inference=self.timed, instance=f"p{parts}", group_id=group)
        retarget(self, settings)
        self.ends = {p.partition: p.end for p in plan.partitions if p.size > 0}
        self.done: dict[int, int] = {p.partition: p.start for p in plan.partitions}
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.last_commit_at: float | None = None
        self.finished = threading.Event()

    def start_consuming(self) -> None:
        """Commit the plan's start offsets to the fresh group, then assign from them."""
        start = self.plan.assignment()
        if start:
            self.consumer.commit(offsets=start, asynchronous=False)
        self.consumer.assign(start)
        self.started_at = time.monotonic()

    def _accept(self, message: Message) -> WorkItem:
        """Records at or past a partition's planned end are not the replay's: skipped, and
        the partition paused (the last consume may have fetched a few)."""
        partition = int(message.partition() or 0)
        if int(message.offset() or 0) >= self.ends.get(partition, 0):
            self.consumer.pause([TopicPartition(self.frames_topic, partition)])
            return WorkItem(message, skipped=True)
        return super()._accept(message)

    def admit(self, event: FrameEvent) -> bool:
        capture = int(event.get("capture_ts_ms") or 0)
        ok = self.plan.from_ms <= capture <= self.plan.to_ms and (
            not self.cameras or str(event.get("camera_id")) in self.cameras
        )
        if ok:
            self.admitted += 1
        else:
            self.skipped += 1
        return ok

    def _poll_once(self) -> None:
        super()._poll_once()
        if self._reached_end():
            self.stop()

    def _reached_end(self) -> bool:
        """Every partition read up to its planned end (its position, which moves past
        transaction markers, or its committed offset) and nothing left in the batcher."""
        if len(self.batcher):
            return False
        if not self.ends:
            return True
        parts = [TopicPartition(self.frames_topic, p) for p in self.ends]
        positions = {tp.partition: tp.offset for tp in self.consumer.position(parts)}
        return all(
            max(positions.get(p, -1), self.done.get(p, -1)) >= end for p, end in self.ends.items()
        )

    def _commit_open(self) -> bool:
        offsets = dict(self._txn.offsets) if self._txn is not None else {}
        ok = super()._commit_open()
        if ok and offsets:
            self.last_commit_at = time.monotonic()
            for (_topic, partition), offset in offsets.items():
                self.done[partition] = max(self.done.get(partition, 0), offset)
        return ok

    @property
    def progress(self) -> int:
        """Planned offsets behind us (committed), for the progress bar."""
        return sum(
            max(0, min(self.done.get(p.partition, p.start), p.end) - p.start)
            for p in self.plan.partitions
        )

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.finished_at = time.monotonic()
            self.finished.set()

    def result(self) -> ReplayResult:
        """Elapsed from the first frame read to the last commit (model loading, planning and
        closing excluded, as the worker bench measures the live worker)."""
        end = self.last_commit_at or self.finished_at or time.monotonic()
        return ReplayResult(
            model=self.timed.model,
            group_id=self.group_id,
            output_topic=self.det_topic,
            planned=self.plan.total,
            consumed=self.committed_frames,
            replayed=self.timed.frames,
            skipped=self.skipped,
            elapsed_s=end - (self.first_message_at or self.started_at),
            infer_s=self.timed.seconds,
        )
