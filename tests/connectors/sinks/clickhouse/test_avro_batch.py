"""chDB's Avro reader on containers of one block per message: what it refuses (so a batch can
fall back to the per-message path) and what it does not (trailing bytes: why the path is not
the sink's yet). The mapping SQL stores the rows the Python mapping would."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import cast

import pytest
from fastavro import parse_schema, schemaless_writer

from connectors.sinks.clickhouse.avro_batch import (
    STAGE_STRUCTURE,
    container,
    insert_sql,
    invalid_sql,
)
from connectors.sinks.clickhouse.rows import COLUMNS, detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from schemas.serde import SingleObjectSerde
from schemas.store import SchemaStore
from schemas.types import DetectionEvent
from tests.connectors.sinks.clickhouse.support import detection_event, now_ms
from vigil.clickhouse import EmbeddedClickHouse

HISTORY = Path(__file__).parents[4] / "schemas" / "avro" / "history"


@pytest.fixture
def client(tmp_path: Path) -> EmbeddedClickHouse:
    ch = EmbeddedClickHouse(tmp_path / "chdb")
    migrate(ch, "db", Retention())
    ch.query(f"CREATE TABLE db.stage ({STAGE_STRUCTURE}) ENGINE = Memory")
    return ch


def _bodies(n: int) -> tuple[SingleObjectSerde, list[bytes]]:
    serde = SingleObjectSerde(SchemaStore.default(), "vigil.DetectionEvent")
    ts = now_ms()
    events = [detection_event(i, "cam-1", i % 3, ts + i) for i in range(n)]
    return serde, [serde.serialize(e, topic="t")[SingleObjectSerde.HEADER_LEN :] for e in events]


def _stage(client: EmbeddedClickHouse, schema: str, bodies: list[bytes]) -> int:
    client.query("TRUNCATE TABLE db.stage")
    client.insert_formatted("INSERT INTO db.stage", "Avro", container(schema, bodies))
    return int(client.query("SELECT count() FROM db.stage")[0][0])


def test_sql_mapping_stores_what_the_python_mapping_does(client: EmbeddedClickHouse) -> None:
    serde, bodies = _bodies(6)
    assert _stage(client, serde.schema.json, bodies) == 6
    assert client.query(invalid_sql("db.stage")) == [(0,)]
    for sql in insert_sql("db", "db.stage", "t", [0] * 6, list(range(10, 16))):
        client.query(sql)
    for table in ("frames", "detections"):
        names = [c for c, _ in COLUMNS[table]]
        stored = client.query(
            f"SELECT {', '.join(names)} FROM db.{table} ORDER BY kafka_offset, "
            + ("object_index" if table == "detections" else "kafka_offset")
        )
        expected = [
            row
            for i, body in enumerate(bodies)
            for row in detection_rows(
                cast(
                    DetectionEvent,
                    serde.deserialize(b"\xc3\x01" + serde.schema.fingerprint + body, topic="t"),
                ),
                ("t", 0, 10 + i),
            ).rows.get(table, [])
        ]
        assert [tuple(r) for r in stored] == [tuple(r) for r in expected]


def test_bad_datums_fail_the_batch_except_trailing_bytes(client: EmbeddedClickHouse) -> None:
    serde, bodies = _bodies(5)
    schema = serde.schema.json
    for bad in (bodies[2][:-1], b"", b"\xff" * 40):
        with pytest.raises(RuntimeError):
            _stage(client, schema, [*bodies[:2], bad, *bodies[3:]])
    # ClickHouse ignores bytes left in a block: accepted, neighbours intact (serde refuses it)
    assert _stage(client, schema, [*bodies[:2], bodies[2] + b"\x02junk", *bodies[3:]]) == 5
    seqs = client.query("SELECT sequence FROM db.stage")
    assert sorted(int(s[0]) for s in seqs) == [0, 1, 2, 3, 4]


def test_an_older_writer_schema_fails_the_batch(client: EmbeddedClickHouse) -> None:
    v1 = json.loads((HISTORY / "detection_event.v1.avsc").read_text())
    buf = io.BytesIO()
    schemaless_writer(buf, parse_schema(v1), detection_event(1, "cam-1", 1, now_ms()))
    with pytest.raises(RuntimeError, match="Avro"):
        _stage(client, json.dumps(v1), [buf.getvalue()])
