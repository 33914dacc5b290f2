"""Serde throughput: Vigil's framed encodings against bare fastavro, side by side in one run.

Prints JSON. The ratios (framed / bare) are what to watch: framing and error wrapping should
cost little next to the Avro body itself. Run: ``make bench`` or ``python -m bench.serde``.
"""

from __future__ import annotations

import io
import json
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer

from schemas import contracts as c
from schemas.serde import AvroSerde, ConfluentSerde, SingleObjectSerde
from schemas.store import SchemaStore
from vigil.testing.samples import detection_event, frame_event


def _rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            fn()
        n += 200
    return n / elapsed


def _bench(name: str, record: dict[str, Any], serdes: dict[str, AvroSerde]) -> dict[str, Any]:
    schema = serdes["single_object"].schema.parsed

    def bare_encode() -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, record)
        return buf.getvalue()

    bare = bare_encode()
    out: dict[str, Any] = {
        "schema": name,
        "payload_bytes": len(bare),
        "bare_encode_per_s": round(_rate(bare_encode)),
        "bare_decode_per_s": round(
            _rate(lambda: schemaless_reader(io.BytesIO(bare), schema, None))
        ),
    }
    for label, serde in serdes.items():
        data = serde.serialize(record, topic="bench")
        enc = _rate(partial(serde.serialize, record, topic="bench"))
        dec = _rate(partial(serde.deserialize, data, topic="bench"))
        out[f"{label}_encode_per_s"] = round(enc)
        out[f"{label}_decode_per_s"] = round(dec)
        out[f"{label}_encode_ratio"] = round(enc / out["bare_encode_per_s"], 3)
        out[f"{label}_decode_ratio"] = round(dec / out["bare_decode_per_s"], 3)
    return out


def run() -> dict[str, Any]:
    store = SchemaStore.default()
    registry = SchemaRegistryClient.new_client({"url": "mock://bench"})  # type: ignore[attr-defined]
    results = []
    for name, record in ((c.FRAME_EVENT, frame_event()), (c.DETECTION_EVENT, detection_event())):
        serdes: dict[str, AvroSerde] = {
            "single_object": SingleObjectSerde(store, name),
            "confluent": ConfluentSerde(store, name, registry),
        }
        results.append(_bench(name, record, serdes))
    return {"bench": "serde", "python": platform.python_version(), "results": results}


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
