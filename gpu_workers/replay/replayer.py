"""``vigil replay``: the worker's frame processing over a planned, bounded stretch of the
frames topic.

A replay assigns the planned partitions itself (no group rebalancing), in a fresh consumer
group whose start offsets it commits first, so a rewind after an aborted transaction goes back
to the plan and production groups' offsets are never read or written. Each batch still commits
its detections and offsets in one transaction. Frames outside the capture-time range or the
chosen cameras are consumed and skipped; the replay stops when every partition has reached its
planned end, and runs as fast as the engine allows (no pacing).

It composes the worker's parts: a :class:`Worker` whose frame processor is given the replay's
admission policy and commit listener, run with a :class:`PlannedRange` around that processor.
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
from gpu_workers.worker.frames import FrameProcessor, Offsets, Outputs
from gpu_workers.worker.inference import Inference, Item
from gpu_workers.worker.loop import Worker
from schemas.types import DetectionEvent, FrameEvent
from vigil.runtime import ConsumerLoop, Processor


def candidate_outputs(settings: GpuWorkersSettings) -> Outputs:
    """The candidates' detections and DLQ topics, where replays and shadows write."""
    return Outputs.of(candidates_topics(settings))


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


class PlannedRange(Processor):
    """The frame processor over planned partition ends: a record at or past its partition's
    end is not the replay's (skipped, its partition held: the last poll may have fetched a
    few); once every partition reached its end and nothing is queued, the loop is stopped."""

    def __init__(
        self,
        frames: FrameProcessor,
        loop: ConsumerLoop,
        topic: str,
        ends: dict[int, int],
        done: dict[int, int],
    ) -> None:
        self.frames = frames
        self.loop = loop
        self.topic = topic
        self.ends = ends
        self.done = done  # partition -> committed offset (the replay's, kept by on_commit)
        self.first_message_at: float | None = None  # monotonic; excludes planning and joining

    def poll_limits(self) -> tuple[int, float]:
        return self.frames.poll_limits()

    def process(self, message: Message) -> None:
        if self.first_message_at is None:
            self.first_message_at = time.monotonic()
        partition = int(message.partition() or 0)
        if int(message.offset() or 0) >= self.ends.get(partition, 0):
            self.loop.hold([TopicPartition(self.topic, partition)])
            self.frames.skip(message)
            return
        self.frames.process(message)

    def step(self) -> None:
        self.frames.step()
        if self.reached_end():
            self.loop.stop()

    def drain(self, deadline: float) -> None:
        self.frames.drain(deadline)

    def reached_end(self) -> bool:
        """Every partition read up to its planned end (its position, which moves past
        transaction markers, or its committed offset) and nothing left in the batcher."""
        if self.frames.pending:
            return False
        if not self.ends:
            return True
        parts = [TopicPartition(self.topic, p) for p in self.ends]
        positions = {tp.partition: tp.offset for tp in self.loop.consumer.position(parts)}
        return all(
            max(positions.get(p, -1), self.done.get(p, -1)) >= end for p, end in self.ends.items()
        )


class Replayer:
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
        self.group_id = group_id or f"{settings.replay.group_prefix}-{model}-{uuid.uuid4().hex[:8]}"
        parts = "-".join(str(p.partition) for p in plan.partitions)
        self.worker = Worker(
            settings,
            inference=self.timed,
            instance=f"p{parts}",
            group_id=self.group_id,
            outputs=candidate_outputs(settings),
            admit=self.admit,
            on_commit=self._committed,
        )
        self.ends = {p.partition: p.end for p in plan.partitions if p.size > 0}
        self.done: dict[int, int] = {p.partition: p.start for p in plan.partitions}
        self.range = PlannedRange(
            self.worker.frames, self.worker.loop, self.worker.frames_topic, self.ends, self.done
        )
        self.started_at = time.monotonic()
        self.finished_at: float | None = None
        self.last_commit_at: float | None = None
        self.finished = threading.Event()

    def _start(self) -> None:
        """Commit the plan's start offsets to the fresh group, then assign from them."""
        start = self.plan.assignment()
        if start:
            self.worker.consumer.commit(offsets=start, asynchronous=False)
        self.worker.loop.assign(start)
        self.started_at = time.monotonic()

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

    def _committed(self, offsets: Offsets) -> None:
        self.last_commit_at = time.monotonic()
        for (_topic, partition), offset in offsets.items():
            self.done[partition] = max(self.done.get(partition, 0), offset)

    @property
    def progress(self) -> int:
        """Planned offsets behind us (committed), for the progress bar."""
        return sum(
            max(0, min(self.done.get(p.partition, p.start), p.end) - p.start)
            for p in self.plan.partitions
        )

    def run(self) -> None:
        try:
            self.worker.serve(self.range, self._start)
        finally:
            self.finished_at = time.monotonic()
            self.finished.set()

    def stop(self) -> None:
        self.worker.stop()

    def result(self) -> ReplayResult:
        """Elapsed from the first frame read to the last commit (model loading, planning and
        closing excluded, as the worker bench measures the live worker)."""
        end = self.last_commit_at or self.finished_at or time.monotonic()
        return ReplayResult(
            model=self.timed.model,
            group_id=self.group_id,
            output_topic=self.worker.det_topic,
            planned=self.plan.total,
            consumed=self.worker.committed_frames,
            replayed=self.timed.frames,
            skipped=self.skipped,
            elapsed_s=end - (self.range.first_message_at or self.started_at),
            infer_s=self.timed.seconds,
        )
