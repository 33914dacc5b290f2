"""Finding a chosen frame on ``vigil.frames`` by its capture time.

Kafka indexes records by their record timestamp (when the ingest produced the frame), which is
the capture time give or take the camera's clock skew, and at most ``max_ingest_delay`` after
it (the same bounds ``vigil replay`` plans with, ``gpu_workers/replay/bounds.py``). So a frame
is searched from ``offsets_for_times(capture - skew)`` on. Frames are keyed by camera, and a
camera's frames keep their order in its partition: the search of a partition ends at the frame,
at a later frame of the same camera (it is not there), past ``capture + max_ingest_delay``, or
at the partition's end. Only records with the camera's key are decoded.

The camera's partition is learned from the first frame of it seen and searched first; the other
partitions only when the frame is not there (the topic grew, or another partitioner wrote it).
A frame retention removed is told apart from one that never was: the search began at the
oldest record still held, and records had been deleted before it."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil import kafka
from vigil.settings import CoreSettings
from vigil.topics import Topic

EXPIRED = "expired"
NOT_FOUND = "not_found"
BATCH = 500
PASSED = object()  # a later frame of the camera was found where the frame would be


@dataclass(frozen=True)
class Found:
    event: dict[str, Any]  # the FrameEvent
    partition: int
    offset: int


@dataclass(frozen=True)
class NotFound:
    reason: str  # expired | not_found
    detail: str


class FrameLocator:
    """A group-less ``read_committed`` reader of ``vigil.frames`` that finds one frame at a
    time; ``TimeoutError`` (or a ``KafkaException``) when the broker does not answer in time."""

    def __init__(
        self,
        settings: CoreSettings,
        *,
        clock_skew_ms: int,
        max_ingest_delay_ms: int,
        timeout_s: float = 30.0,
    ) -> None:
        self.topic = Topic.FRAMES.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.FRAMES)
        self.consumer = kafka.consumer(settings, f"vigil-dataset-locator-{uuid.uuid4().hex[:12]}")
        self.skew_ms = clock_skew_ms
        self.delay_ms = max_ingest_delay_ms
        self.timeout_s = timeout_s
        self.where: dict[str, int] = {}  # camera -> the partition its frames were seen in
        self.decode_errors = 0

    def close(self) -> None:
        self.consumer.close()

    def find(self, frame_id: str, camera: str, capture_ts_ms: int) -> Found | NotFound:
        meta = self.consumer.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic]
        if meta.error is not None:
            raise TimeoutError(f"{self.topic}: {meta.error}")
        parts = sorted(meta.partitions)
        known = self.where.get(camera)
        order = ([known] if known in parts else []) + [p for p in parts if p != known]
        expired: list[str] = []
        for p in order:
            got = self._scan(p, frame_id, camera, capture_ts_ms)
            if isinstance(got, Found):
                return got
            if got is PASSED:  # the camera's frames are here, in order: it never was
                return NotFound(
                    NOT_FOUND,
                    f"{frame_id} is not among camera {camera}'s frames on {self.topic}/{p} "
                    f"(a later frame of the camera follows its capture time)",
                )
            if got:
                expired.append(str(got))
        if expired:
            return NotFound(EXPIRED, f"{frame_id} is gone from {self.topic}: {'; '.join(expired)}")
        return NotFound(
            NOT_FOUND,
            f"{frame_id} (camera {camera}, captured at {capture_ts_ms} ms) is not on {self.topic}",
        )

    def _scan(self, p: int, frame_id: str, camera: str, capture_ts_ms: int) -> Found | object:
        """The frame; :data:`PASSED`; or, inconclusive, a retention note ("" when none)."""
        tp = TopicPartition(self.topic, p)
        low, high = self.consumer.get_watermark_offsets(tp, timeout=self.timeout_s)
        query = TopicPartition(self.topic, p, max(0, capture_ts_ms - self.skew_ms))
        found = self.consumer.offsets_for_times([query], timeout=self.timeout_s)[0]
        start = found.offset if found.offset >= 0 else high
        deleted = low > 0 and start <= low
        note = f"partition {p} now starts at offset {low} (retention deleted what came before)"
        if start >= high:
            return note if deleted else ""
        key = camera.encode()
        last_ts = capture_ts_ms + self.delay_ms
        self.consumer.assign([TopicPartition(self.topic, p, start)])
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                for msg in self.consumer.consume(BATCH, timeout=0.2):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise TimeoutError(f"reading {self.topic}/{p}: {err}")
                    if msg.key() == key:
                        self.where[camera] = p
                        hit = self._check(msg, frame_id, capture_ts_ms)
                        if hit is not None:
                            return hit if isinstance(hit, Found) else PASSED
                    if int(msg.timestamp()[1]) > last_ts:
                        return note if deleted else ""
                position = self.consumer.position([TopicPartition(self.topic, p)])[0].offset
                if position >= high:
                    return note if deleted else ""
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{self.topic}/{p}: searching for {frame_id} took over "
                        f"{self.timeout_s:.0f}s"
                    )
        finally:
            self.consumer.unassign()

    def _check(self, msg: Any, frame_id: str, capture_ts_ms: int) -> Found | bool | None:
        """Found: the frame; True: a later frame of the camera (the frame is not here)."""
        try:
            event = dict(self.serde.decode(msg))
        except SerdeError:
            self.decode_errors += 1  # the workers dead-letter it; it is not the frame
            return None
        if event["frame_id"] == frame_id:
            return Found(event, int(msg.partition() or 0), int(msg.offset() or 0))
        if int(event["capture_ts_ms"]) > capture_ts_ms:
            return True
        return None
