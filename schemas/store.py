"""The schema store: every Avro schema Vigil knows, by full name and by fingerprint.

Single-object encoding names the writer schema by its CRC-64-AVRO fingerprint, so a reader
must know every schema that was ever written: the current ones in ``avro/`` and older
versions in ``avro/history/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

AVRO_DIR = Path(__file__).parent / "avro"


@dataclass(frozen=True)
class AvroSchema:
    """One parsed schema with its identity."""

    name: str
    source: dict[str, Any]
    parsed: Any
    canonical: str
    fingerprint: bytes  # 8 bytes, little-endian, as single-object encoding writes them

    @classmethod
    def from_json(cls, source: dict[str, Any]) -> AvroSchema:
        # A fresh named-types dict per schema: two versions of one record must not collide.
        parsed = parse_schema(source, named_schemas={})
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise ValueError(f"a topic schema must be an Avro record, got {source!r:.80}")
        canonical = to_parsing_canonical_form(parsed)
        fp = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        return cls(str(parsed["name"]), source, parsed, canonical, fp)

    @property
    def json(self) -> str:
        return json.dumps(self.source, separators=(",", ":"))


class SchemaStore:
    """Current schemas by name (what writers use) and all known schemas by fingerprint."""

    def __init__(self) -> None:
        self._current: dict[str, AvroSchema] = {}
        self._by_fingerprint: dict[bytes, AvroSchema] = {}

    @classmethod
    def default(cls) -> SchemaStore:
        store = cls()
        for path in sorted((AVRO_DIR / "history").glob("*.avsc")):
            store.add(_load(path), current=False)
        for path in sorted(AVRO_DIR.glob("*.avsc")):
            store.add(_load(path))
        return store

    def add(self, source: dict[str, Any], *, current: bool = True) -> AvroSchema:
        schema = AvroSchema.from_json(source)
        self._by_fingerprint[schema.fingerprint] = schema
        if current:
            self._current[schema.name] = schema
        return schema

    def current(self, name: str) -> AvroSchema:
        try:
            return self._current[name]
        except KeyError:
            known = ", ".join(sorted(self._current))
            raise KeyError(f"no schema named {name!r}; known: {known}") from None

    def by_fingerprint(self, fp: bytes) -> AvroSchema | None:
        return self._by_fingerprint.get(fp)

    def names(self) -> list[str]:
        return sorted(self._current)


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        source: dict[str, Any] = json.load(fh)
    return source
