"""The typed contracts (schemas/types.py) are exactly what the .avsc files say."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin, get_type_hints

import pytest

import schemas.types as t
from schemas.serde import SingleObjectSerde
from schemas.store import SchemaStore
from schemas.typegen import TYPES_PATH, render
from vigil.imagestats import ImageStats
from vigil.testing.samples import SAMPLES

STORE = SchemaStore.default()
PRIMITIVES: dict[str, Any] = {
    "null": type(None),
    "boolean": bool,
    "int": int,
    "long": int,
    "float": float,
    "double": float,
    "bytes": bytes,
    "string": str,
}


def test_the_committed_module_is_the_generated_one() -> None:
    assert TYPES_PATH.read_text(encoding="utf-8") == render(), "run python -m schemas.typegen"


def _check(hint: Any, avro: Any, where: str) -> None:
    """``hint`` (a resolved annotation) means the Avro type ``avro``."""
    if isinstance(avro, list):  # a union: X | None
        assert get_origin(hint) in (types.UnionType, typing.Union), where
        branches = [b for b in avro if b != "null"] + [b for b in avro if b == "null"]
        assert len(get_args(hint)) == len(branches), where
        for arg, branch in zip(get_args(hint), branches, strict=True):
            _check(arg, branch, where)
    elif isinstance(avro, str) and avro in PRIMITIVES:
        assert hint is PRIMITIVES[avro], where
    elif avro["type"] == "array":
        assert get_origin(hint) is list, where
        _check(get_args(hint)[0], avro["items"], where + "[]")
    elif avro["type"] == "map":
        assert get_origin(hint) is dict, where
        assert get_args(hint)[0] is str, where
        _check(get_args(hint)[1], avro["values"], where + "{}")
    elif avro["type"] == "enum":
        assert get_origin(hint) is typing.Literal, where
        assert list(get_args(hint)) == avro["symbols"], where
    elif avro["type"] == "record":
        _check_record(hint, avro)
    else:
        _check(hint, avro["type"], where)


def _check_record(typed: Any, avro: dict[str, Any]) -> None:
    name = avro["name"].rsplit(".", 1)[-1]
    assert typed.__name__ == name
    hints = get_type_hints(typed)
    names = [f["name"] for f in avro["fields"]]
    assert list(hints) == names, name
    assert typed.__required_keys__ == frozenset(names), name  # a reader gets every field
    for f in avro["fields"]:
        _check(hints[f["name"]], f["type"], f"{name}.{f['name']}")


@pytest.mark.parametrize("schema_name", sorted(SAMPLES))
def test_each_record_matches_its_schema_field_by_field(schema_name: str) -> None:
    source = STORE.current(schema_name).source
    _check_record(getattr(t, source["name"]), source)


@pytest.mark.parametrize("schema_name", sorted(SAMPLES))
def test_a_decoded_record_has_exactly_the_typed_keys(schema_name: str) -> None:
    serde = SingleObjectSerde(STORE, schema_name)
    decoded = serde.deserialize(serde.serialize(SAMPLES[schema_name](), topic="t"), topic="t")
    typed = getattr(t, schema_name.rsplit(".", 1)[-1])
    assert set(decoded) == set(get_type_hints(typed))


def test_the_image_statistics_the_workers_compute_are_the_contract_s() -> None:
    # vigil/ is below schemas/ and cannot import it: its ImageStats must stay the same shape
    assert get_type_hints(ImageStats) == get_type_hints(t.ImageStats)
