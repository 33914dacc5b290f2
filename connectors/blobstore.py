"""The claim-check store lives in :mod:`vigil.blobs` (the workers resolve claim checks too, and
folders share code only through ``vigil/``); these names stay importable from here. What needs
the FrameEvent schema lives here: finding the blobs that some event on ``vigil.frames`` still
refers to, for the orphan GC (``vigil blobs gc --orphans``)."""

from __future__ import annotations

from confluent_kafka import Message

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil.blobs import BlobResolver, BlobStore, FileBlobStore, GcReport, default_store
from vigil.follow import read_to_end
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
    serde = serde_for(settings, Topic.FRAMES)
    uris: set[str] = set()

    def note(msg: Message) -> None:
        try:
            uri = serde.decode(msg).get("image_uri")
        except SerdeError:  # dead-lettered by the workers; it refers to nothing we know
            return
        if uri:
            uris.add(str(uri))

    topic = Topic.FRAMES.name_in(settings.topics)
    read_to_end(settings, topic, note, name="vigil-blob-gc", timeout_s=timeout_s)
    return uris


def collect_garbage(
    settings: CoreSettings, *, orphans: bool = False, dry_run: bool = False
) -> GcReport:
    """One blob GC: blobs past ``ingest.blob_retention_hours``; with ``orphans``, also those no
    FrameEvent on the topic refers to (read first, so a blob written later is in its grace)."""
    referenced = referenced_uris(settings) if orphans else None
    store = default_store(settings)
    max_age_s = settings.ingest.blob_retention_hours * 3600
    return store.gc(max_age_s, referenced=referenced, dry_run=dry_run)
