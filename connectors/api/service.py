"""What the upload endpoint does once an image passed its checks: claim check if large, produce
with the idempotent producer, and wait for Kafka's acknowledgement (accepted means durable)."""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from starlette.concurrency import run_in_threadpool

from connectors.blobstore import BlobStore, FileBlobStore, default_store
from connectors.frames import EncodedFrame, frame_event, now_ms
from schemas.contracts import serde_for
from vigil import kafka
from vigil.errors import VigilError
from vigil.settings import CoreSettings
from vigil.topics import Topic
from vigil.web.images import CheckedImage

log = logging.getLogger(__name__)


class NotAcknowledged(VigilError, RuntimeError):
    """Kafka did not acknowledge the event in time (or refused it)."""


class StorageFull(VigilError, OSError):
    """The blob store has no space (or quota) left for an image over the inline limit: the
    upload is refused before anything reaches Kafka."""


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Accepted:
    frame_id: str
    camera_id: str
    sequence: int
    width: int
    height: int
    transcoded: bool
    image_uri: str | None
    partition: int
    offset: int
    notes: tuple[str, ...] = ()  # what the upload lost on the way in (animation frames, ...)


class UploadService:
    def __init__(
        self,
        settings: CoreSettings,
        producer: Producer | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.settings = settings
        self.topic = Topic.FRAMES.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.FRAMES)
        self.producer = producer or kafka.producer(settings)
        self.blobs = blobs or default_store(settings)
        self._seq_lock = threading.Lock()
        self._last_seq: dict[str, int] = {}
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._gc: threading.Thread | None = None

    def start(self) -> None:
        self._poller = threading.Thread(target=self._poll, name="upload-poll", daemon=True)
        self._poller.start()
        interval = self.settings.ingest.blob_gc_interval_s
        if interval > 0 and isinstance(self.blobs, FileBlobStore):
            self._gc = threading.Thread(
                target=self._collect, args=(self.blobs, interval), name="blob-gc", daemon=True
            )
            self._gc.start()

    def _collect(self, store: FileBlobStore, interval_s: float) -> None:
        """The periodic blob GC of ``vigil api``: blobs past their retention. A blob whose
        upload Kafka refused was deleted at once; one whose acknowledgement timed out may
        still be referenced, so it stays until it expires (``vigil blobs gc --orphans`` finds
        the rest)."""
        max_age_s = self.settings.ingest.blob_retention_hours * 3600
        while True:
            try:
                report = store.gc(max_age_s)
                if report.expired or report.orphaned:
                    log.info("blob gc: %s", report.summary())
            except OSError as exc:
                log.warning("blob gc failed (next run in %.0f s): %s", interval_s, exc)
            if self._stop.wait(interval_s):
                return

    def _drop_blob(self, uri: str) -> None:
        try:
            self.blobs.delete(uri)
        except (OSError, ValueError) as exc:  # the age GC deletes it later
            log.warning("blob of a refused upload not deleted: %s", exc)

    def close(self) -> None:
        self.producer.flush(self.settings.ingest.ack_timeout_s)
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        if self._gc is not None:
            self._gc.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    def next_sequence(self, camera_id: str) -> int:
        """Microseconds since the epoch, bumped to stay strictly increasing per camera: monotonic
        across API restarts and replicas without shared state."""
        with self._seq_lock:
            seq = max(time.time_ns() // 1000, self._last_seq.get(camera_id, -1) + 1)
            self._last_seq[camera_id] = seq
            return seq

    def healthy(self) -> bool:
        try:
            md = self.producer.list_topics(self.topic, timeout=2)
        except Exception:
            return False
        meta = md.topics.get(self.topic)
        return bool(md.brokers) and meta is not None and meta.error is None

    async def accept(self, image: CheckedImage, camera_id: str, tags: dict[str, str]) -> Accepted:
        frame_id = str(uuid.uuid4())
        frame = EncodedFrame(
            camera_id,
            self.next_sequence(camera_id),
            now_ms(),
            image.width,
            image.height,
            image.jpeg,
            "UPLOAD",
            {**tags, **image.tags},  # what the checks changed, never the client's word
        )
        inline = self.settings.ingest.inline_image_bytes
        try:
            record = await run_in_threadpool(
                frame_event, frame, frame_id=frame_id, inline_limit=inline, blobs=self.blobs
            )
        except OSError as exc:
            if exc.errno not in FULL_ERRNOS:
                raise
            raise StorageFull(exc.errno, f"the blob store is full: {exc.strerror}") from exc
        value = self.serde.serialize(record, topic=self.topic)
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[tuple[int, int]] = loop.create_future()
        uri = record["image_uri"]

        def settle(err: KafkaError | None, msg: Message) -> None:
            if err is not None and uri:  # refused for good: no event will ever refer to it
                self._drop_blob(uri)

            def apply() -> None:
                if acked.done():
                    return
                if err is not None:
                    acked.set_exception(NotAcknowledged(str(err)))
                else:
                    acked.set_result((int(msg.partition() or 0), int(msg.offset() or 0)))

            loop.call_soon_threadsafe(apply)

        try:
            await run_in_threadpool(
                kafka.produce, self.producer, self.topic, value, key=camera_id, on_delivery=settle
            )
        except (BufferError, KafkaException) as exc:
            if uri:
                self._drop_blob(uri)
            raise NotAcknowledged(f"not produced: {exc}") from exc
        try:
            partition, offset = await asyncio.wait_for(acked, self.settings.ingest.ack_timeout_s)
        except TimeoutError:
            raise NotAcknowledged("no acknowledgement from Kafka in time") from None
        return Accepted(
            frame_id,
            camera_id,
            frame.sequence,
            image.width,
            image.height,
            image.transcoded,
            record["image_uri"],
            partition,
            offset,
            image.notes,
        )


def as_json(accepted: Accepted) -> dict[str, Any]:
    body = dict(accepted.__dict__)
    body["notes"] = list(accepted.notes)
    return body
