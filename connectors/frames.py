"""Building FrameEvents the same way for every source: ids, times, inline bytes or claim check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from connectors.blobstore import BlobStore
from schemas.types import FrameEvent, SourceKind


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class EncodedFrame:
    """One sampled, resized, JPEG-encoded frame, before it becomes an event."""

    camera_id: str
    sequence: int
    capture_ts_ms: int
    width: int
    height: int
    jpeg: bytes
    source_kind: SourceKind
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def frame_id(self) -> str:
        return f"{self.camera_id}-{self.sequence}"


def frame_event(
    frame: EncodedFrame,
    *,
    frame_id: str | None = None,
    inline_limit: int,
    blobs: BlobStore,
) -> FrameEvent:
    """The FrameEvent record; a JPEG over ``inline_limit`` goes to ``blobs`` first."""
    fid = frame_id or frame.frame_id
    image: bytes | None = frame.jpeg
    uri: str | None = None
    if len(frame.jpeg) > inline_limit:
        uri = blobs.put(f"{fid}.jpg", frame.jpeg)
        image = None
    return {
        "frame_id": fid,
        "camera_id": frame.camera_id,
        "sequence": frame.sequence,
        "capture_ts_ms": frame.capture_ts_ms,
        "ingest_ts_ms": now_ms(),
        "source_kind": frame.source_kind,
        "width": frame.width,
        "height": frame.height,
        "encoding": "JPEG",
        "image": image,
        "image_uri": uri,
        "tags": dict(frame.tags),
    }
