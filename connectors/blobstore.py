"""The claim-check store now lives in :mod:`vigil.blobs` (the workers resolve claim checks too,
and folders share code only through ``vigil/``); these names stay importable from here."""

from vigil.blobs import BlobResolver, BlobStore, FileBlobStore, default_store

__all__ = ["BlobResolver", "BlobStore", "FileBlobStore", "default_store"]
