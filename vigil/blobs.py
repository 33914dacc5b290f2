"""Claim-check store (shared by ingest and the workers): images over the inline limit are
written here and the FrameEvent carries a URI instead of the bytes. Filesystem by default; any
store with ``put``/``get`` (an S3-compatible one, say) can be registered for its URI scheme."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from vigil.settings import VigilSettings


class BlobStore(Protocol):
    scheme: str

    def put(self, key: str, data: bytes) -> str:
        """Store durably; return the URI to put in the event."""
        ...

    def get(self, uri: str) -> bytes: ...


class FileBlobStore:
    """A directory; writes are fsynced and renamed into place before the event is produced, so
    a consumer never resolves a half-written image."""

    scheme = "file"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def put(self, key: str, data: bytes) -> str:
        safe = key.replace("/", "_").replace("\\", "_")
        target = self.root / safe[:2] / safe
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target.as_uri()

    def get(self, uri: str) -> bytes:
        path = Path(unquote(urlparse(uri).path)).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"claim check {uri} is outside the blob store {self.root}")
        return path.read_bytes()


def default_store(settings: VigilSettings) -> FileBlobStore:
    return FileBlobStore(settings.ingest.blob_dir or settings.data_dir / "blobs")


class BlobResolver:
    """Gives consumers an event's image bytes whether inline or behind a claim check."""

    def __init__(self, *stores: BlobStore) -> None:
        self._stores = {s.scheme: s for s in stores}

    @classmethod
    def from_settings(cls, settings: VigilSettings) -> BlobResolver:
        return cls(default_store(settings))

    def resolve(self, event: dict[str, Any]) -> bytes:
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
