"""vigil.Sample evolves like every contract: a reason kind added later reads as OTHER in an
older reader (the enum's default), its detail intact; an added optional field is dropped."""

from __future__ import annotations

import copy
from typing import Any

from schemas import contracts as c
from schemas.serde import SingleObjectSerde
from schemas.store import SchemaStore
from vigil.testing.samples import evolved, sample

STORE = SchemaStore.default()


def _with_new_kind(source: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(source)
    reasons = next(f for f in new["fields"] if f["name"] == "reasons")
    kind = reasons["type"]["items"]["fields"][0]["type"]
    kind["symbols"] = [*kind["symbols"], "NOVEL_SCENE"]
    return evolved(new)


def test_a_new_reason_kind_reads_as_other_in_an_old_reader() -> None:
    newer = _with_new_kind(STORE.current(c.SAMPLE).source)
    writer = SchemaStore()
    writer.add(newer)
    reader = SchemaStore.default()
    reader.add(newer, current=False)  # what avro/history/ gives a reader
    record = {**sample(), "lens": "wide"}
    record["reasons"] = [{"kind": "NOVEL_SCENE", "detail": "never seen before"}]
    data = SingleObjectSerde(writer, c.SAMPLE).serialize(record, topic="t")
    got = SingleObjectSerde(reader, c.SAMPLE).deserialize(data, topic="t")
    assert got["reasons"] == [{"kind": "OTHER", "detail": "never seen before"}]
    assert "lens" not in got
    assert got["sample_id"] == sample()["sample_id"]
