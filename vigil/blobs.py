"""Claim-check store (shared by ingest and the workers): images over the inline limit are
written here and the FrameEvent carries a URI instead of the bytes. Filesystem by default; any
store with ``put``/``get`` (an S3-compatible one, say) can be registered for its URI scheme."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from vigil.files import write_atomically
from vigil.settings import CoreSettings

TMP_PREFIX = ".tmp-"


class BlobStore(Protocol):
    scheme: str

    def put(self, key: str, data: bytes) -> str:
        """Store durably; return the URI to put in the event."""
        ...

    def get(self, uri: str) -> bytes: ...

    def delete(self, uri: str) -> bool:
        """Remove a blob no event will refer to (its upload was refused)."""
        ...


class FileBlobStore:
    """A directory; writes are fsynced and renamed into place before the event is produced, so
    a consumer never resolves a half-written image."""

    scheme = "file"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def put(self, key: str, data: bytes) -> str:
        safe = key.replace("/", "_").replace("\\", "_")
        target = self.root / safe[:2] / safe
        write_atomically(target, data, prefix=TMP_PREFIX)  # GC knows its leftovers by it
        return target.as_uri()

    def get(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def delete(self, uri: str) -> bool:
        """Remove one blob (an upload Kafka refused); False when it was not there."""
        try:
            self._path(uri).unlink()
        except FileNotFoundError:
            return False
        return True

    def _path(self, uri: str) -> Path:
        path = Path(unquote(urlparse(uri).path)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"claim check {uri} is outside the blob store {self.root}")
        return path

    def gc(
        self,
        max_age_s: float,
        *,
        referenced: Collection[str] | None = None,
        orphan_grace_s: float = 600.0,
        dry_run: bool = False,
        now: float | None = None,
    ) -> GcReport:
        """Delete blobs older than ``max_age_s`` (their FrameEvents are past the frames topic's
        retention, or never existed) and, when ``referenced`` (URIs some FrameEvent on the topic
        carries) is given, blobs older than ``orphan_grace_s`` that no event refers to: uploads
        Kafka never acknowledged. The grace keeps a blob whose event is being produced now.
        Half-written temporary files past the grace go too."""
        clock = time.time() if now is None else now
        report = GcReport(dry_run=dry_run)
        if not self.root.is_dir():
            return report
        for path in sorted(self.root.glob("*/*")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted meanwhile (another GC, a refused upload)
                continue
            if not path.is_file():
                continue
            age = clock - stat.st_mtime
            if age > max_age_s:
                kind = "expired"
            elif (age > orphan_grace_s and path.name.startswith(TMP_PREFIX)) or (
                age > orphan_grace_s and referenced is not None and path.as_uri() not in referenced
            ):
                kind = "orphaned"
            else:
                report.kept += 1
                continue
            if not dry_run:
                path.unlink(missing_ok=True)
            report.count(kind, stat.st_size)
        return report


@dataclass
class GcReport:
    """What a blob GC deleted (or, in a dry run, would delete)."""

    dry_run: bool = False
    expired: int = 0
    orphaned: int = 0
    kept: int = 0
    bytes: int = 0

    def count(self, kind: str, size: int) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.bytes += size

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {self.expired} expired and {self.orphaned} orphaned blobs "
            f"({self.bytes} bytes); kept {self.kept}"
        )


def default_store(settings: CoreSettings) -> FileBlobStore:
    return FileBlobStore(settings.ingest.blob_dir or settings.data_dir / "blobs")


class BlobResolver:
    """Gives consumers an event's image bytes whether inline or behind a claim check."""

    def __init__(self, *stores: BlobStore) -> None:
        self._stores = {s.scheme: s for s in stores}

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> BlobResolver:
        return cls(default_store(settings))

    def resolve(self, event: Mapping[str, Any]) -> bytes:
        if event.get("image") is not None:
            return bytes(event["image"])
        uri = event.get("image_uri")
        if not uri:
            raise ValueError(f"frame {event.get('frame_id')} has neither image nor image_uri")
        scheme = urlparse(uri).scheme
        store = self._stores.get(scheme)
        if store is None:
            raise ValueError(f"no blob store registered for {scheme!r} URIs ({uri})")
        return store.get(uri)
