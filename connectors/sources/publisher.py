"""From encoded frames to acknowledged events: a bounded per-camera buffer with a named drop
policy, sequence numbers that keep rising across restarts, and one shared idempotent producer
whose queue each camera may only fill up to its ``max_in_flight``."""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from connectors.blobstore import BlobStore
from connectors.frames import EncodedFrame, frame_event
from connectors.sources import metrics as m
from connectors.sources.config import DropPolicy
from schemas.contracts import serde_for
from schemas.serde import AvroSerde
from vigil import kafka
from vigil.topics import Topic

log = logging.getLogger(__name__)


class FrameBuffer:
    """Frames between the reader and the producer. When full, ``put`` applies the policy: WAIT
    blocks the reader (with a timeout so shutdown is seen), DROP_* drop and count a frame."""

    def __init__(self, camera_id: str, capacity: int, policy: DropPolicy) -> None:
        self.camera_id = camera_id
        self.capacity = capacity
        self.policy = policy
        self._frames: collections.deque[EncodedFrame] = collections.deque()
        self._cond = threading.Condition()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: EncodedFrame, stop: threading.Event) -> bool:
        """Queue ``frame``; False if it was dropped or we are stopping."""
        with self._cond:
            while len(self._frames) >= self.capacity:
                if self.policy is DropPolicy.WAIT:
                    if stop.is_set():
                        return False
                    self._cond.wait(0.2)
                    continue
                self._drop()
                if self.policy is DropPolicy.DROP_NEWEST:
                    return False
                self._frames.popleft()
            self._frames.append(frame)
            m.BUFFERED.labels(self.camera_id).set(len(self._frames))
            self._cond.notify_all()
            return True

    def _drop(self) -> None:
        self.dropped += 1
        m.FRAMES_DROPPED.labels(self.camera_id, self.policy.value).inc()

    def get(self, timeout_s: float) -> EncodedFrame | None:
        with self._cond:
            if not self._frames:
                self._cond.wait(timeout_s)
            if not self._frames:
                return None
            frame = self._frames.popleft()
            m.BUFFERED.labels(self.camera_id).set(len(self._frames))
            self._cond.notify_all()
            return frame


class SequenceCounter:
    """Monotonic sequence numbers per camera that survive a restart of ``vigil ingest``: blocks
    of numbers are reserved in a file under the data dir (hi/lo), so after a crash numbering
    resumes above anything used before; gaps are allowed, repeats never."""

    BLOCK = 10_000

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._next = int(path.read_text()) if path.exists() else 0
        self._ceiling = self._next

    def next(self) -> int:
        with self._lock:
            if self._next >= self._ceiling:
                self._ceiling = self._next + self.BLOCK
                tmp = self._path.with_suffix(".tmp")
                tmp.write_text(str(self._ceiling))
                tmp.replace(self._path)
            value = self._next
            self._next += 1
            return value


class FramePublisher:
    """One idempotent producer (acks=all) for all cameras, polled by its own thread."""

    def __init__(
        self,
        producer: Producer,
        topic: str,
        serde: AvroSerde,
        blobs: BlobStore,
        inline_limit: int,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.serde = serde
        self.blobs = blobs
        self.inline_limit = inline_limit
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._acknowledged: collections.Counter[str] = collections.Counter()
        self._failed: collections.Counter[str] = collections.Counter()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="frame-producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def in_flight(self, camera_id: str) -> int:
        with self._cond:
            return self._in_flight[camera_id]

    def delivery_counts(self, camera_id: str) -> tuple[int, int]:
        """(frames Kafka acknowledged, frames it refused for good) of one camera so far."""
        with self._cond:
            return self._acknowledged[camera_id], self._failed[camera_id]

    def publish(self, frame: EncodedFrame, max_in_flight: int, stop: threading.Event) -> bool:
        """Produce ``frame`` once the camera has fewer than ``max_in_flight`` unacknowledged
        frames; False if stopping first. A full librdkafka queue is retried after poll()."""
        cam = frame.camera_id
        with self._cond:
            while self._in_flight[cam] >= max_in_flight:
                if stop.is_set():
                    return False
                self._cond.wait(0.2)
            self._in_flight[cam] += 1
        record = frame_event(frame, inline_limit=self.inline_limit, blobs=self.blobs)
        value = self.serde.serialize(record, topic=self.topic)

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            with self._cond:
                self._in_flight[cam] -= 1
                (self._failed if err is not None else self._acknowledged)[cam] += 1
                self._cond.notify_all()
            if err is None:
                m.FRAMES_PRODUCED.labels(cam).inc()
            else:
                m.DELIVERY_FAILURES.labels(cam).inc()
                log.error("frame %s of camera %s not delivered: %s", record["frame_id"], cam, err)

        try:
            kafka.produce(self.producer, self.topic, value, key=cam, on_delivery=delivered)
        except BaseException:
            with self._cond:
                self._in_flight[cam] -= 1
            raise
        return True

    def flush(self, timeout_s: float) -> int:
        return int(self.producer.flush(timeout_s))

    def close(self, timeout_s: float = 30.0) -> int:
        """Flush and stop polling; the number of frames still undelivered."""
        left = self.flush(timeout_s)
        self._stop.set()
        self._poller.join(timeout=5)
        return left


def make_publisher(settings: Any, blobs: BlobStore, **producer_overrides: Any) -> FramePublisher:
    """The publisher for ``vigil.frames`` under ``settings``."""

    topic = Topic.FRAMES.name_in(settings.topics)
    prod = kafka.producer(settings, **producer_overrides)
    return FramePublisher(
        prod, topic, serde_for(settings, Topic.FRAMES), blobs, settings.ingest.inline_image_bytes
    )
