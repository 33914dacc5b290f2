"""Hot swap of the production detector: the production worker follows the model registry
(``vigil.registry``, key ``role:detector``) and switches to each new production model without
stopping, losing or duplicating a frame.

- At start-up the registry is read to its end and its production detector loaded (the settings'
  model when the registry names none, or when the named one fails its checks: then a REFUSE).
- A change is loaded in a background thread on the worker's engine factory, its ONNX checked
  against the record's sha256, and warmed up beside the model that keeps serving. A failure
  leaves the old model running and publishes a REFUSE event and a ``model:refused`` alert.
- The ready model is switched in by the loop's thread at a transaction boundary: the old model's
  work is committed first, the motion gate forgets what the old model saw, and a SWITCH event
  (the first offset per frames partition the new model processes) goes out inside the next
  transaction, with the new model's first detections.
- The face models (``face_detector``, ``embedder``) are taken from the registry at start-up
  only: a running worker does not swap them (an embedder change makes the watch-list's
  enrolled embeddings incomparable until they are enrolled again), a restart picks them up.
- When partitions are assigned the registry is read again and the worker switches to production
  before it processes them (synchronously): versions only move forward on a partition even when
  it moves to a worker that had not switched yet.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from gpu_workers.models.base import Adapter
from gpu_workers.models.spec import load_spec
from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.frames import FrameProcessor
from gpu_workers.worker.items import Outgoing
from gpu_workers.worker.metrics import SWAPS
from gpu_workers.worker.registered import (
    CATCH_UP_TIMEOUT_S,
    ROLE,
    announce_refusal,
    same,
    verified_spec,
)
from schemas.contracts import serde_for
from schemas.types import ModelRecord
from vigil import faults, kafka
from vigil.files import sha256_of
from vigil.registry import (
    RegistryFollower,
    event_key,
    label,
    new_record,
    read_registry,
)
from vigil.topics import Topic

log = logging.getLogger("vigil.worker")


@dataclass(frozen=True)
class Ready:
    """A loaded, warmed-up detector waiting to be switched in."""

    adapter: Adapter[Any]
    record: ModelRecord | None


class Slot:
    """Where the loader leaves a ready detector for the loop's thread (the newest wins)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: Ready | None = None

    def offer(self, ready: Ready | None) -> None:
        with self._lock:
            self._ready = ready

    def take(self) -> Ready | None:
        with self._lock:
            ready, self._ready = self._ready, None
            return ready

    def put_back(self, ready: Ready) -> None:
        """Return a ready detector not switched in yet, unless a newer one arrived."""
        with self._lock:
            if self._ready is None:
                self._ready = ready

    def peek(self) -> Ready | None:
        with self._lock:
            return self._ready


class HotSwap:
    """Follows the registry for one production worker and switches its processor's detector.
    ``running``: the record of the detector it runs now (None: the settings' model)."""

    def __init__(
        self,
        settings: GpuWorkersSettings,
        processor: FrameProcessor,
        instance: str,
        running: ModelRecord | None,
    ) -> None:
        self.settings = settings
        self.processor = processor
        self.instance = instance
        self.running = running
        self.topic = Topic.MODELS.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.MODELS)
        self.slot = Slot()
        self.switches = 0
        self._lock = threading.Lock()
        self._wanted = running
        self._refused: list[ModelRecord | None] = []
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="model-load")
        self.follower = RegistryFollower(settings, self._changed)
        processor.before_step = self.switch_ready
        processor.on_assigned = self.catch_up

    def start(self, timeout_s: float = 30.0) -> None:
        """Follow the registry; a change since the start-up read is loaded now."""
        self.follower.start()
        self.follower.wait(timeout_s)
        self._changed(ROLE, self.follower.current(ROLE))

    def close(self) -> None:
        """Stop following; a SWITCH event no batch has carried yet is committed on its own."""
        self.follower.stop()
        self._loader.shutdown(wait=True, cancel_futures=True)
        p = self.processor
        if not p.outgoing or p.txns.open is not None or p.txns.committing:
            return
        try:
            p.txns.producer.begin_transaction()
            for out in p.outgoing:
                kafka.produce(p.txns.producer, out.topic, out.value, key=out.key)
            p.txns.producer.commit_transaction(30)
            p.outgoing.clear()
        except (KafkaException, BufferError) as exc:
            log.warning("the SWITCH event was not committed on close: %s", exc)

    # -- the follower's thread, and the loader's ----------------------------------------------

    def _changed(self, role: str, record: ModelRecord | None) -> None:
        if role != ROLE:
            return
        with self._lock:
            self._wanted = record
        self._loader.submit(self._prepare, record)

    def _prepare(self, record: ModelRecord | None) -> None:
        """In the loader's thread: load, check and warm ``record`` beside the serving model."""
        with self._lock:
            if not same(record, self._wanted):
                return  # superseded by a later change
            if same(record, self.running):
                self.slot.take()  # back to what runs (a rollback before the switch)
                return
        waiting = self.slot.peek()
        if (waiting is not None and same(waiting.record, record)) or self._was_refused(record):
            return
        if not same(record, self._now_in_registry(record)):
            return  # stale (a lagging follower): the current record is on its way, or running
        try:
            adapter = self.load(record)
        except Exception as exc:  # the old model keeps serving
            self._refuse(record, str(exc))
            return
        with self._lock:
            if same(record, self._wanted) and not same(record, self.running):
                self.slot.offer(Ready(adapter, record))
                log.info("detector %s loaded and warmed up, switching", label(record))

    def _now_in_registry(self, record: ModelRecord | None) -> ModelRecord | None:
        """Production as the registry holds it now (read to its end): a follower still behind
        an assignment's re-read must not switch a worker back to an older model."""
        try:
            return read_registry(self.settings, CATCH_UP_TIMEOUT_S).current(ROLE)
        except Exception as exc:
            log.warning("registry not re-read before loading %s: %s", label(record), exc)
            return record

    def load(self, record: ModelRecord | None) -> Adapter[Any]:
        """The detector of ``record`` (None: the settings' model), checked and warmed up."""
        if record is None:
            ref = Path(self.settings.models.detector)
            if ref.suffix not in (".yaml", ".yml"):
                ref = self.settings.cache_dir / "models" / str(ref) / "spec.yaml"
            spec = load_spec(ref)
            onnx = ref.parent / spec.file
            return self.processor.inference.build(spec, onnx, sha256_of(onnx))
        path, onnx, digest = verified_spec(record)
        return self.processor.inference.build(load_spec(path), onnx, digest)

    def _was_refused(self, record: ModelRecord | None) -> bool:
        return any(
            same(r, record) and (r is None or record is None or r["ts_ms"] == record["ts_ms"])
            for r in self._refused
        )

    def _refuse(self, record: ModelRecord | None, reason: str) -> None:
        self._refused.append(record)
        announce_refusal(self.settings, self.instance, record, reason)

    # -- the loop's thread --------------------------------------------------------------------

    def switch_ready(self) -> None:
        """Before each step: switch in a ready detector (at a transaction boundary)."""
        ready = self.slot.take()
        if ready is None or same(ready.record, self.running):  # already switched on assignment
            return
        if not self.switch(ready):
            self.slot.put_back(ready)  # the commit failed (rewound): next step

    def switch(self, ready: Ready, assigned: list[TopicPartition] | None = None) -> bool:
        """Commit the old model's work, switch, and queue the SWITCH event for the next
        transaction; False when the commit failed (nothing switched). ``assigned``: partitions
        being assigned now (not yet consumed), which the new model processes from the start."""
        p = self.processor
        if not p.commit_open():
            return False
        faults.hit("worker_swap")
        previous = p.inference.detector.identity.event_version
        p.inference.detector = ready.adapter
        p.gate.reset()  # no detection of the old model is carried into a new model's event
        details = {f"p{part}": str(first) for part, first in first_offsets(p, assigned).items()}
        ident = ready.adapter.identity
        event = new_record(
            action="SWITCH",
            role=ROLE,
            name=ident.name,
            version=ident.version,
            model_version=ident.event_version,
            sha256=ident.sha256,
            location=ready.record["location"] if ready.record else "",
            details={**details, "instance": self.instance, "previous": previous},
        )
        key = event_key(ROLE, self.instance, event["ts_ms"])
        p.outgoing.append(Outgoing(self.topic, key, self.serde.serialize(event, topic=self.topic)))
        with self._lock:
            self.running = ready.record
        self.switches += 1
        SWAPS.labels("switched").inc()
        log.info("switched detector %s -> %s at %s", previous, ident.event_version, details)
        return True

    def catch_up(self, partitions: list[TopicPartition]) -> None:
        """On assignment, before the partitions are fetched: run the registry's production
        detector (loaded here if the background loader has not made it ready)."""
        try:
            record = read_registry(self.settings, CATCH_UP_TIMEOUT_S).current(ROLE)
        except Exception as exc:  # the follower's view is the best there is
            log.warning("registry not re-read on assignment (%s); using the follower's", exc)
            record = self.follower.current(ROLE)
        with self._lock:
            if same(record, self.running):
                return
            self._wanted = record
        if self._was_refused(record):
            return
        ready = self.slot.take()
        if ready is None or not same(ready.record, record):
            try:
                ready = Ready(self.load(record), record)
            except Exception as exc:
                self._refuse(record, str(exc))
                return
        if not self.switch(ready, partitions) and not self.switch(ready, partitions):
            log.error("could not switch to %s on assignment", label(record))
            self.slot.put_back(ready)


def first_offsets(
    p: FrameProcessor, assigned: list[TopicPartition] | None = None
) -> dict[int, int]:
    """Per frames partition, the first offset the new model processes: the lowest offset still
    queued in the batcher, else the consumer's position (else the committed offset, else the
    oldest record held)."""
    consumer = p.loop.consumer
    firsts: dict[int, int] = {}
    for item in p.batcher:
        part, offset = int(item.message.partition() or 0), int(item.message.offset() or 0)
        firsts[part] = min(firsts.get(part, offset), offset)
    owned = [tp for tp in p.loop.assignment if tp.partition not in firsts]
    fresh = [TopicPartition(tp.topic, tp.partition) for tp in assigned or []]
    later = fresh
    for tp in consumer.position(owned) if owned else []:
        if tp.offset >= 0:
            firsts[tp.partition] = tp.offset
        else:  # nothing consumed yet
            later.append(TopicPartition(tp.topic, tp.partition))
    for tp in kafka.committed(consumer, later) if later else []:
        firsts[tp.partition] = (
            tp.offset if tp.offset >= 0 else consumer.get_watermark_offsets(tp, 10.0)[0]
        )
    return firsts
