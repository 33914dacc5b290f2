"""The claim-check store and resolver (filesystem, no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.blobstore import BlobResolver, FileBlobStore


def test_put_get_and_resolve(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    uri = store.put("frame-1.jpg", b"\xff\xd8 big image")
    assert uri.startswith("file://")
    resolver = BlobResolver(store)
    assert resolver.resolve({"frame_id": "f", "image": None, "image_uri": uri}) == (
        b"\xff\xd8 big image"
    )
    assert resolver.resolve({"frame_id": "f", "image": b"inline", "image_uri": None}) == b"inline"


def test_refuses_uris_outside_the_store_and_unknown_schemes(tmp_path: Path) -> None:
    resolver = BlobResolver(FileBlobStore(tmp_path / "blobs"))
    (tmp_path / "secret").write_bytes(b"x")
    with pytest.raises(ValueError, match="outside the blob store"):
        resolver.resolve({"image": None, "image_uri": (tmp_path / "secret").as_uri()})
    with pytest.raises(ValueError, match="no blob store registered"):
        resolver.resolve({"image": None, "image_uri": "s3://bucket/key"})
    with pytest.raises(ValueError, match="neither image nor image_uri"):
        resolver.resolve({"frame_id": "f", "image": None, "image_uri": None})
