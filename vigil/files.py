"""Files replaced whole or not at all: a reader (another process, or this one after a crash)
sees the old content or the new, never half of it."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, prefix: str | None = None) -> None:
    """Write ``data`` to a temporary file beside ``path`` (named ``prefix``..., default
    ``.<name>.``), fsync it, then rename it over ``path``; the temporary file is removed if
    anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file (an ONNX, a download), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
