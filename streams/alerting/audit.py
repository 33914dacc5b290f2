"""The POI audit log: every match decision at or above the near-miss bound, one JSON line each,
for threshold tuning. Erasing a person rewrites it atomically, keeping a redacted entry (that a
decision was made, and when the person was erased) instead of the person id.

Writers and the eraser take an exclusive lock on ``<file>.lock`` (and a writer opens the file
under it), so an append is never lost to a rewrite that replaced the file meanwhile."""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.alerting.engine import AuditEntry
from vigil.files import write_atomically
from vigil.pseudonyms import Pseudonyms

log = logging.getLogger(__name__)
ERASED = "erased"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class AuditLog:
    """Appends entries; the log lines about them carry the person's pseudonym only."""

    def __init__(self, path: Path, pseudonyms: Pseudonyms | None = None) -> None:
        self.path = path
        self.pseudonyms = pseudonyms or Pseudonyms()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entries: list[AuditEntry], ts_ms: int) -> None:
        if not entries:
            return
        with _locked(self.path), self.path.open("a", encoding="utf-8") as f:
            for e in entries:
                line = {"ts_ms": ts_ms, **e.__dict__}
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
                logged = {**line, "person_id": self.pseudonyms(e.person_id)}
                log.info("poi %s", json.dumps(logged))


def erase_person(path: Path, person_id: str, now_ms: int | None = None) -> int:
    """Replace ``person_id`` in every entry by ``"erased"`` (with ``erased_ts_ms``); the file is
    rewritten to a temporary one, fsynced and renamed over the old, so a crash leaves either
    the old file or the new. Returns how many entries were redacted."""
    if not path.exists():
        return 0
    when = int(time.time() * 1000) if now_ms is None else now_ms
    with _locked(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        out, redacted = [], 0
        for raw in lines:
            try:
                entry = json.loads(raw)
            except json.JSONDecodeError:
                out.append(raw)  # not ours to judge; kept as it was
                continue
            if isinstance(entry, dict) and entry.get("person_id") == person_id:
                entry["person_id"] = ERASED
                entry["erased_ts_ms"] = when
                redacted += 1
                raw = json.dumps(entry, separators=(",", ":"))
            out.append(raw)
        if redacted:
            write_atomically(path, "".join(line + "\n" for line in out).encode())
    return redacted
