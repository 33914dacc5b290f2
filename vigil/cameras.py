"""The camera status file: a running ``vigil ingest`` rewrites ``<data_dir>/ingest/status.json``
atomically every second; ``vigil cameras status`` and the dashboard read it (no server to
reach, works for any user who can read the data directory)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vigil.redact import mask_url
from vigil.settings import CoreSettings


def status_path(settings: CoreSettings) -> Path:
    return settings.data_dir / "ingest" / "status.json"


def read_status(settings: CoreSettings) -> dict[str, Any] | None:
    path = status_path(settings)
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # errors may quote a camera URL: its password never reaches the status file
    tmp.write_text(mask_url(json.dumps(data, indent=1)))
    tmp.replace(path)


def write_status(settings: CoreSettings, status: dict[str, Any]) -> None:
    _write_atomically(status_path(settings), status)
