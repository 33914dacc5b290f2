"""The dataset store on disk: ``<root>/<dataset>/images/<frame>.jpg`` and one JSON record per
sample in ``<root>/<dataset>/samples/<sample>.json`` saying why the frame was chosen, what was
done to its faces and where it came from (or why it could not be copied).

Every file is written whole or not at all (``vigil.files.write_atomically``) and named by its
id, so a copier restarted after a crash rewrites the same files, never a second copy; the image
is written before its record, so a record that says ``copied`` always has its image."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vigil.files import write_atomically
from vigil.settings import CoreSettings

COPIED = "copied"
MISSED = "missed"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


def safe_name(ident: str) -> str:
    """A file name for an id: the id itself when it is safe, else a cleaned form with a hash of
    the id (two ids never share a file)."""
    cleaned = _UNSAFE.sub("_", ident).lstrip(".")
    if cleaned == ident and 0 < len(ident) <= 200:
        return ident
    return f"{cleaned[:120]}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def datasets_root(settings: CoreSettings, root: Path | None) -> Path:
    return root or settings.data_dir / "datasets"


class DatasetStore:
    """One dataset's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.images = folder / "images"
        self.samples = folder / "samples"

    def image_name(self, frame_id: str) -> str:
        return f"{safe_name(frame_id)}.jpg"

    def image_path(self, frame_id: str) -> Path:
        return self.images / self.image_name(frame_id)

    def record_path(self, sample_id: str) -> Path:
        return self.samples / f"{safe_name(sample_id)}.json"

    def read(self, sample_id: str) -> dict[str, Any] | None:
        path = self.record_path(sample_id)
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def write_image(self, frame_id: str, jpeg: bytes) -> str:
        """The image, atomically; its path relative to the dataset folder."""
        write_atomically(self.image_path(frame_id), jpeg)
        return f"images/{self.image_name(frame_id)}"

    def write_record(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False).encode()
        write_atomically(self.record_path(str(record["sample_id"])), data + b"\n")

    def records(self) -> Iterator[dict[str, Any]]:
        """Every sample record, in file-name order (temporary files skipped)."""
        if not self.samples.is_dir():
            return
        for path in sorted(self.samples.glob("*.json")):
            if not path.name.startswith("."):
                yield dict(json.loads(path.read_text(encoding="utf-8")))
