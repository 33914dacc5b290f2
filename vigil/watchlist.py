"""The person-of-interest watch-list: enrolled face embeddings, matched in one matrix product.

Open-set by design: a face is someone only when its best cosine similarity reaches that
person's threshold; otherwise it is unknown. Rebuilt from the compacted ``vigil.poi`` topic and
updated live; a tombstone forgets the person at once (the next match rebuilds the matrix under
the lock, so the stream never sees a half-updated list)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Person:
    person_id: str
    embeddings: Matrix  # (m, d), unit rows
    threshold: float | None
    embedding_model: str


@dataclass(frozen=True)
class Match:
    person_id: str | None  # best candidate (None: empty watch-list or no comparable vector)
    similarity: float
    threshold: float

    @property
    def matched(self) -> bool:
        return self.person_id is not None and self.similarity >= self.threshold


@dataclass(frozen=True)
class _Snapshot:
    matrix: Matrix  # (total, d)
    owners: tuple[str, ...]  # per row
    thresholds: dict[str, float | None]


def _unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


class Watchlist:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._persons: dict[str, Person] = {}
        self._snapshots: dict[int, _Snapshot] = {}
        self._dirty = False

    def __len__(self) -> int:
        return len(self._persons)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._persons

    def ids(self) -> list[str]:
        return sorted(self._persons)

    def apply(self, person_id: str, record: dict[str, Any] | None) -> None:
        """Apply one ``vigil.poi`` record: an enrolment replaces the person, None forgets them."""
        with self._lock:
            if record is None:
                self._persons.pop(person_id, None)
            else:
                vectors = np.asarray(record["embeddings"], dtype=np.float32)
                if vectors.ndim != 2 or len(vectors) == 0:
                    raise ValueError(f"poi {person_id}: embeddings must be a non-empty matrix")
                self._persons[person_id] = Person(
                    person_id,
                    _unit(vectors),
                    record.get("match_threshold"),
                    str(record.get("embedding_model", "")),
                )
            self._dirty = True  # rebuilt once, at the next match: loading 10k people is O(n)

    def _build(self) -> dict[int, _Snapshot]:
        by_dim: dict[int, list[Person]] = {}
        for p in self._persons.values():
            by_dim.setdefault(int(p.embeddings.shape[1]), []).append(p)
        out = {}
        for dim, persons in by_dim.items():
            matrix = np.concatenate([p.embeddings for p in persons]).astype(np.float32)
            owners = tuple(p.person_id for p in persons for _ in range(len(p.embeddings)))
            out[dim] = _Snapshot(matrix, owners, {p.person_id: p.threshold for p in persons})
        return out

    def match(self, faces: Matrix, default_threshold: float) -> list[Match]:
        """Best enrolled person for each face (rows of ``faces``), in one matrix product."""
        if len(faces) == 0:
            return []
        if self._dirty:
            with self._lock:
                if self._dirty:
                    self._snapshots = self._build()
                    self._dirty = False
        snap = self._snapshots.get(int(faces.shape[1]))
        if snap is None:
            return [Match(None, -1.0, default_threshold) for _ in range(len(faces))]
        sims = _unit(np.asarray(faces, np.float32)) @ snap.matrix.T
        best = np.argmax(sims, axis=1)
        out = []
        for row, col in enumerate(best):
            person = snap.owners[int(col)]
            threshold = snap.thresholds.get(person)
            out.append(
                Match(
                    person,
                    float(sims[row, col]),
                    default_threshold if threshold is None else float(threshold),
                )
            )
        return out
