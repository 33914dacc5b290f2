"""How much of a bare INSERT the ClickHouse sink's decode + map + insert could reach on chDB
(issue 17, point 5), without Kafka: the same DetectionEvent payloads, in the sink's batch size,

- ``python``: fastavro per message (``schemas.serde``) + ``rows.detection_rows`` + the
  columnar insert (what the sink does today after consuming);
- ``chdb_decode``: one Avro container per batch (one block per message,
  ``connectors.sinks.clickhouse.avro_batch``), staged into a Memory table by chDB's Avro
  reader, checked in SQL, and mapped by ``INSERT ... SELECT`` (ARRAY JOIN for objects);
- ``bare``: the columnar INSERT of exactly the rows, ready as column lists.

Contenders alternate; each keeps its best round. Run: ``python -m bench.sink_decode``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

from bench.goals import goal
from bench.machine import machine
from bench.sink import SINK_BATCH, Columns, fresh_db, record, settle
from connectors.sinks.clickhouse.avro_batch import (
    STAGE_STRUCTURE,
    container,
    insert_sql,
    invalid_sql,
)
from connectors.sinks.clickhouse.rows import COLUMNS, detection_rows
from schemas.serde import SingleObjectSerde
from schemas.store import SchemaStore
from schemas.types import DetectionEvent
from vigil.clickhouse import EmbeddedClickHouse

TOPIC = "bench.detections"
Batch = list[tuple[int, int, bytes]]  # (partition, offset, payload)


def payload_batches(total_rows: int) -> tuple[SingleObjectSerde, list[Batch], int]:
    serde = SingleObjectSerde(SchemaStore.default(), "vigil.DetectionEvent")
    base = int(time.time() * 1000)
    batches: list[Batch] = [[]]
    rows = batch_rows = i = 0
    while rows < total_rows:
        event = record(i, base)
        n = 1 + len(event["detections"])
        batches[-1].append((i % 4, i // 4, serde.serialize(event, topic=TOPIC)))
        rows += n
        batch_rows += n
        if batch_rows >= SINK_BATCH:
            batches.append([])
            batch_rows = 0
        i += 1
    return serde, [b for b in batches if b], rows


def python_path(
    client: EmbeddedClickHouse, serde: SingleObjectSerde, batches: list[Batch]
) -> float:
    db, _ = fresh_db(client)
    start = time.perf_counter()
    for batch in batches:
        mapped = [
            detection_rows(
                cast(DetectionEvent, serde.deserialize(p, topic=TOPIC)), (TOPIC, part, off)
            )
            for part, off, p in batch
        ]
        for table in ("frames", "detections"):
            rows = [r for m in mapped for r in m.rows.get(table, [])]
            client.insert(f"{db}.{table}", [c for c, _ in COLUMNS[table]], rows)
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


def chdb_path(
    client: EmbeddedClickHouse, serde: SingleObjectSerde, batches: list[Batch]
) -> tuple[float, int]:
    db, _ = fresh_db(client)
    stage = f"{db}.stage_{uuid.uuid4().hex[:8]}"
    client.query(f"CREATE TABLE {stage} ({STAGE_STRUCTURE}) ENGINE = Memory")
    schema = serde.schema.json
    header = SingleObjectSerde.HEADER_LEN
    start = time.perf_counter()
    for batch in batches:
        client.query(f"TRUNCATE TABLE {stage}")
        data = container(schema, [memoryview(p)[header:] for _, _, p in batch])
        client.insert_formatted(f"INSERT INTO {stage}", "Avro", data)
        if int(client.query(invalid_sql(stage))[0][0]):
            raise RuntimeError("bench events are valid")
        for sql in insert_sql(db, stage, TOPIC, [b[0] for b in batch], [b[1] for b in batch]):
            client.query(sql)
    elapsed = time.perf_counter() - start
    stored = sum(
        int(client.query(f"SELECT count() FROM {db}.{t}")[0][0])  # noqa: S608
        for t in ("frames", "detections")
    )
    settle(client, db)
    return elapsed, stored


def columns(serde: SingleObjectSerde, batches: list[Batch]) -> list[Columns]:
    out: list[Columns] = []
    for batch in batches:
        mapped = [
            detection_rows(
                cast(DetectionEvent, serde.deserialize(p, topic=TOPIC)), (TOPIC, part, off)
            )
            for part, off, p in batch
        ]
        inserts: Columns = []
        for table in ("frames", "detections"):
            rows = [r for m in mapped for r in m.rows.get(table, [])]
            inserts.append((table, [list(c) for c in zip(*rows, strict=True)]))
        out.append(inserts)
    return out


def bare(client: EmbeddedClickHouse, ready: list[Columns]) -> float:
    db, _ = fresh_db(client)
    start = time.perf_counter()
    for inserts in ready:
        for table, data in inserts:
            client.insert_columns(f"{db}.{table}", [c for c, _ in COLUMNS[table]], data)
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


def run(rows: int = 100_000, rounds: int = 3) -> dict[str, Any]:
    serde, batches, total = payload_batches(rows)
    ready = columns(serde, batches)
    with tempfile.TemporaryDirectory() as tmp:
        client = EmbeddedClickHouse(Path(tmp) / "chdb")
        best = {"python": float("inf"), "chdb_decode": float("inf"), "bare": float("inf")}
        stored = 0
        for _ in range(rounds):
            best["python"] = min(best["python"], python_path(client, serde, batches))
            elapsed, stored = chdb_path(client, serde, batches)
            best["chdb_decode"] = min(best["chdb_decode"], elapsed)
            best["bare"] = min(best["bare"], bare(client, ready))
        client.close()
    rate = {k: round(total / v) for k, v in best.items()}
    return {
        "bench": "sink_decode",
        "machine": machine(),
        "events": sum(len(b) for b in batches),
        "rows": total,
        "rows_stored_by_chdb_decode": stored,
        "batches": len(batches),
        "rows_per_s": rate,
        "goals": {
            "chdb_decode_vs_bare": goal(
                round(best["bare"] / best["chdb_decode"], 2),
                ">=",
                0.8,
                why="decode + map + insert without Kafka; see bench/README.md",
            ),
            "python_vs_bare": goal(
                round(best["bare"] / best["python"], 2),
                ">=",
                0.8,
                why="fastavro decode and Python mapping per event cost more than the insert",
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.rows, args.rounds), indent=2))


if __name__ == "__main__":
    main()
