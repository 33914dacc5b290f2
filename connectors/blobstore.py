"""The claim-check store lives in :mod:`vigil.blobs` (the workers resolve claim checks too, and
folders share code only through ``vigil/``); these names stay importable from here. What needs
the FrameEvent schema lives here: finding the blobs that some event on ``vigil.frames`` still
refers to, for the orphan GC (``vigil blobs gc --orphans``)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil import kafka
from vigil.blobs import BlobResolver, BlobStore, FileBlobStore, GcReport, default_store
from vigil.settings import CoreSettings
from vigil.topics import Topic

__all__ = [
    "BlobResolver",
    "BlobStore",
    "FileBlobStore",
    "GcReport",
    "collect_garbage",
    "default_store",
    "referenced_uris",
]


def referenced_uris(settings: CoreSettings, timeout_s: float = 300.0) -> set[str]:
    """The claim-check URI of every committed FrameEvent on ``vigil.frames`` now: read from
    the start to the end offsets of the moment (a position, so transaction markers and aborted
    records do not hold it back)."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    cons = kafka.consumer(settings, f"vigil-blob-gc-{uuid.uuid4().hex[:12]}")
    uris: set[str] = set()
    deadline = time.monotonic() + timeout_s
    try:
        ends = [tp for tp in kafka.end_offsets(cons, topic) if tp.offset > 0]
        if not ends:
            return uris
        cons.assign([TopicPartition(topic, tp.partition, OFFSET_BEGINNING) for tp in ends])
        while True:
            at = cons.position([TopicPartition(topic, tp.partition) for tp in ends])
            if all(p.offset >= tp.offset for p, tp in zip(at, ends, strict=True)):
                return uris
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end in {timeout_s:.0f}s")
            for msg in cons.consume(200, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {err}")
                    continue
                try:
                    uri = serde.decode(msg).get("image_uri")
                except SerdeError:  # dead-lettered by the workers; it refers to nothing we know
                    continue
                if uri:
                    uris.add(str(uri))
    finally:
        cons.close()


def collect_garbage(
    settings: CoreSettings, *, orphans: bool = False, dry_run: bool = False
) -> GcReport:
    """One blob GC: blobs past ``ingest.blob_retention_hours``; with ``orphans``, also those no
    FrameEvent on the topic refers to (read first, so a blob written later is in its grace)."""
    referenced = referenced_uris(settings) if orphans else None
    store = default_store(settings)
    max_age_s = settings.ingest.blob_retention_hours * 3600
    return store.gc(max_age_s, referenced=referenced, dry_run=dry_run)
