"""The worker process's Kafka side: a consumer in the worker's group on the frames topic, one
transactional producer per worker instance, and the consumer runtime (``vigil.runtime``)
running the worker's :class:`FrameProcessor` (``frames``: what is done with each frame, each
batch and on each rebalance).

A replay composes the same parts: it runs its own processor around the frame processor on
partitions it assigns itself (:meth:`Worker.serve`).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.frames import Admit, FrameProcessor, Offsets, Outputs, admit_all
from gpu_workers.worker.inference import Inference
from gpu_workers.worker.metrics import CONSUMER
from gpu_workers.worker.registered import production_inference
from gpu_workers.worker.swap import HotSwap
from vigil import kafka
from vigil.runtime import ConsumerLoop, Processor
from vigil.topics import Topic

log = logging.getLogger("vigil.worker")


def instance_id(settings: GpuWorkersSettings) -> str:
    return settings.worker.instance_id or socket.gethostname()


class Worker:
    """``outputs`` (default: production's topics), ``admit`` and ``on_commit`` are handed to
    the :class:`FrameProcessor`. ``follow_registry`` (production's ``vigil worker`` only; a
    replay or a shadow runs its explicit candidate): run the registry's production detector
    and hot-swap to each new one (``swap``)."""

    def __init__(
        self,
        settings: GpuWorkersSettings,
        *,
        inference: Inference | None = None,
        instance: str | None = None,
        group_id: str | None = None,
        consumer_options: dict[str, Any] | None = None,
        outputs: Outputs | None = None,
        admit: Admit = admit_all,
        on_commit: Callable[[Offsets], None] | None = None,
        follow_registry: bool = False,
    ) -> None:
        if follow_registry and inference is not None:
            raise ValueError("a worker that follows the registry loads its own detector")
        self.settings = settings
        cfg = settings.worker
        self.instance = instance or instance_id(settings)
        self.group_id = group_id or cfg.group_id  # replay and shadow runs have their own
        running = None
        if follow_registry:  # the registry read to its end before consuming
            inference, running = production_inference(settings, self.instance)
        self.inference = inference or Inference(settings)
        self.frames_topic = Topic.FRAMES.name_in(settings.topics)
        self.consumer = kafka.consumer(
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
        self.loop = ConsumerLoop(self.consumer, CONSUMER, eager=True)  # latency-bound
        self.frames = FrameProcessor(
            settings,
            self.inference,
            self.producer,
            self.loop,
            outputs or Outputs.of(settings.topics),
            admit=admit,
            on_commit=on_commit,
        )
        self.swap = (
            HotSwap(settings, self.frames, self.instance, running) if follow_registry else None
        )
        self._closed = False

    @property
    def det_topic(self) -> str:
        return self.frames.outputs.detections

    # what the tests and the CLI read; benches read the same from the metrics
    @property
    def committed_frames(self) -> int:
        return self.frames.committed_frames

    @property
    def aborted(self) -> int:
        return self.frames.aborted

    @property
    def revoked(self) -> int:
        """Partitions taken away (or lost) since start."""
        return self.frames.revoked

    @property
    def pauses(self) -> int:
        return self.loop.pauses

    @property
    def max_queued(self) -> int:
        return self.frames.max_queued

    def run(self) -> None:
        """Until :meth:`stop`: join the group and process frames. On stop the queued frames
        are finished and committed, then the group is left cleanly."""
        self.serve(self.frames, self._join)

    def _join(self) -> None:
        if self.swap is not None:
            self.swap.start()
        self.loop.subscribe([self.frames_topic])

    def serve(self, processor: Processor, start: Callable[[], None]) -> None:
        """Run ``processor`` on this worker's loop after ``start`` (join the group, or assign
        partitions); the worker is closed when it returns (stopped, or an error)."""
        try:
            start()
            log.info("worker %s consuming %s", self.instance, self.frames_topic)
            self.loop.run(processor)
        finally:
            self.close()

    def stop(self) -> None:
        self.loop.stop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.swap is not None:
            self.swap.close()
        self.frames.close()
        self.loop.close()  # leaves the group: partitions move at once
        self.producer.flush(10)
