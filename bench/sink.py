"""ClickHouse sink throughput against a bare INSERT of the same rows into the same tables, side
by side in one run (contenders alternate, each keeps its best round), on chDB and (when
installed) the ClickHouse server.

- ``kafka`` (the figures the goal is on): the whole sink from a real broker (consume, Avro
  decode, row mapping, exactly-once writer, offset commits) against a bare INSERT of exactly the
  rows it wrote (same records, same partitions and offsets), in batches of the sink's size,
  with the client's fastest method given ready column lists (transposing the rows is not
  timed).
- ``writer``: the exactly-once writer on already-mapped rows against the same bare INSERT, at
  1k, 10k and 100k rows per batch (what the offset bookkeeping costs).
- ``methods``: the bare INSERT itself by method (chDB: JSONEachRow text against an Arrow
  stream; server: row tuples against columnar blocks), to show the baseline is the fastest.

Run: ``python -m bench.sink [--kafka] [--rows N]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from confluent_kafka import KafkaError, Message

from bench.goals import goal
from bench.machine import machine
from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.rows import COLUMNS, Mapped, detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.sink import ClickHouseSink
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from schemas.contracts import serde_for
from schemas.types import DetectionEvent
from vigil import kafka
from vigil.clickhouse import ClickHouseClient, EmbeddedClickHouse, ServerClickHouse, connect
from vigil.stack import find_server_binary
from vigil.testing import clickhouse_server, kafka_broker, poll_until
from vigil.testing.samples import detection_event
from vigil.topics import Topic, ensure_topics, topic_specs, wait_for_leaders
from vigil_app.settings import (
    ClickHouseSettings,
    ClickHouseSinkSettings,
    KafkaSettings,
    TopicSettings,
    VigilSettings,
)

BATCHES = (1_000, 10_000, 100_000)
SINK_BATCH = 10_000  # the sink's default batch_max_rows
TABLES = ("frames", "detections")
GOAL = 0.8
WHY = (
    "per event the sink decodes Avro with fastavro and maps it in Python; that work alone "
    "costs more per row than the whole bare INSERT (see profile in bench/README.md)"
)


def record(i: int, base_ms: int) -> dict[str, Any]:
    """Event ``i`` of a run: 1 frame row and 0..3 object rows."""
    template = detection_event()
    return {
        **template,
        "frame_id": f"f-{i}",
        "camera_id": f"cam-{i % 8}",
        "sequence": i,
        "capture_ts_ms": base_ms + i,
        "detections": template["detections"][: i % 3] + template["detections"][: i % 2],
    }


def events(total_rows: int, topic: str = "bench.detections") -> list[Mapped]:
    """Mapped events worth about ``total_rows`` rows."""
    base = int(time.time() * 1000)
    out: list[Mapped] = []
    rows = i = 0
    while rows < total_rows:
        mapped = detection_rows(cast(DetectionEvent, record(i, base)), (topic, i % 4, i // 4))
        out.append(mapped)
        rows += mapped.row_count
        i += 1
    return out


def chunks(items: list[Mapped], rows: int) -> Iterator[list[Mapped]]:
    chunk: list[Mapped] = []
    n = 0
    for item in items:
        chunk.append(item)
        n += item.row_count
        if n >= rows:
            yield chunk
            chunk, n = [], 0
    if chunk:
        yield chunk


Columns = list[tuple[str, list[list[Any]]]]  # per INSERT: table, its column lists


def columns_of(items: list[Mapped], batch: int) -> list[Columns]:
    """The INSERTs of ``items`` in batches of ``batch`` rows, as ready column lists."""
    out = []
    for chunk in chunks(items, batch):
        inserts: Columns = []
        for table in TABLES:
            rows = [r for m in chunk for r in m.rows.get(table, [])]
            inserts.append((table, [list(c) for c in zip(*rows, strict=True)]))
        out.append(inserts)
    return out


def fresh_db(client: ClickHouseClient) -> tuple[str, bool]:
    """A new database with the sink's schema; whether INSERT tokens are supported."""
    db = f"bench_{uuid.uuid4().hex[:8]}"
    caps = migrate(client, db, Retention())
    return db, caps.dedup_token


def settle(client: ClickHouseClient, db: str) -> None:
    """Drop the run's database and let background merges finish, so runs start alike."""
    client.query(f"DROP DATABASE {db}")
    poll_until(lambda: not client.query("SELECT count() FROM system.merges")[0][0], 30, 0.2)


def bare(client: ClickHouseClient, batches: list[Columns]) -> float:
    """Seconds to insert ``batches`` with the client's (columnar) insert."""
    db, _ = fresh_db(client)
    start = time.perf_counter()
    for inserts in batches:
        for table, data in inserts:
            client.insert_columns(f"{db}.{table}", [c for c, _ in COLUMNS[table]], data)
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


def bare_by_method(client: ClickHouseClient, batches: list[Columns], method: str) -> float:
    """The bare INSERT by one of the methods the client could use (``methods`` section)."""
    db, _ = fresh_db(client)
    start = time.perf_counter()
    for inserts in batches:
        for table, data in inserts:
            names = [c for c, _ in COLUMNS[table]]
            target = f"{db}.{table}"
            if method == "json_each_row" and isinstance(client, EmbeddedClickHouse):
                body = "\n".join(
                    json.dumps(dict(zip(names, row, strict=True)))
                    for row in zip(*data, strict=True)
                )
                client.query(
                    f"INSERT INTO {target} ({', '.join(names)}) FORMAT JSONEachRow\n{body}"
                )
            elif method == "row_tuples" and isinstance(client, ServerClickHouse):
                client.driver.execute(
                    f"INSERT INTO {target} ({', '.join(names)}) VALUES",
                    list(zip(*data, strict=True)),
                )
            else:
                client.insert_columns(target, names, data)
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


def methods_bench(client: ClickHouseClient, total_rows: int, rounds: int) -> dict[str, Any]:
    batches = columns_of(events(total_rows), SINK_BATCH)
    rows = sum(len(data[0]) for inserts in batches for _, data in inserts)
    other = "json_each_row" if client.backend == "chdb" else "row_tuples"
    best = {"columnar": float("inf"), other: float("inf")}
    for _ in range(rounds):
        for method in best:
            best[method] = min(best[method], bare_by_method(client, batches, method))
    return {f"{m}_rows_per_s": round(rows / t) for m, t in best.items()}


def through_writer(client: ClickHouseClient, items: list[Mapped], batch: int) -> float:
    db, tokens = fresh_db(client)
    writer = ClickHouseWriter(client, db, BatchPolicy(batch, 3600))
    writer.dedup_tokens = tokens  # as the sink does
    start = time.perf_counter()
    for chunk in chunks(items, batch):
        for item in chunk:
            writer.add(item, item.row_count)
        writer.flush()
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


def writer_bench(client: ClickHouseClient, total_rows: int, rounds: int) -> list[dict[str, Any]]:
    items = events(total_rows)
    rows = sum(m.row_count for m in items)
    results = []
    for batch in BATCHES:
        batches = columns_of(items, batch)
        bare(client, columns_of(items[:200], batch))  # warm-up
        t_bare = t_sink = float("inf")
        for _ in range(rounds):
            t_bare = min(t_bare, bare(client, batches))
            t_sink = min(t_sink, through_writer(client, items, batch))
        results.append(
            {
                "rows_per_batch": batch,
                "rows": rows,
                "bare_rows_per_s": round(rows / t_bare),
                "writer_rows_per_s": round(rows / t_sink),
                "ratio": round(t_bare / t_sink, 3),
            }
        )
    return results


@contextmanager
def server_url(home: Path) -> Iterator[str | None]:
    if find_server_binary() is None:
        yield None
        return
    with clickhouse_server(home) as server:
        yield server.url


class TimedSink(ClickHouseSink):
    """The real sink, timed from its first record to the commit of its last batch. Once all
    ``expect`` records are in, the last partial batch is flushed at once (a live sink would
    flush it at ``batch_max_s``; a finite backlog must not wait for that timer)."""

    def __init__(self, settings: VigilSettings, client: ClickHouseClient, expect: int) -> None:
        super().__init__(settings, client, topics=[Topic.DETECTIONS])
        self.expect = expect
        self.first: float | None = None
        self.done: float | None = None

    def process(self, msg: Message) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        super().process(msg)

    def step(self) -> None:
        if self.stats.messages >= self.expect:
            self.writer.policy = BatchPolicy(self.writer.policy.max_rows, 0.0)
        super().step()
        if self.done is None and self.stats.messages >= self.expect and self.idle:
            self.done = time.perf_counter()


def produce(settings: VigilSettings, total_rows: int) -> list[Mapped]:
    """Write events worth ``total_rows`` rows to the detections topic; the rows the sink will
    make of them, with the partitions and offsets the broker gave them."""
    admin = kafka.admin(settings)
    ensure_topics(admin, topic_specs(settings.topics))
    topic = Topic.DETECTIONS.name_in(settings.topics)
    wait_for_leaders(admin, [t.name_in(settings.topics) for t in Topic])
    serde = serde_for(settings, Topic.DETECTIONS)
    sources: dict[int, tuple[int, int]] = {}

    def delivered(i: int) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                sources[i] = (msg.partition() or 0, msg.offset() or 0)

        return done

    prod = kafka.producer(settings)
    base = int(time.time() * 1000)
    records: list[dict[str, Any]] = []
    rows = 0
    while rows < total_rows:
        rec = record(len(records), base)
        payload = serde.serialize(rec, topic=topic)
        kafka.produce(
            prod, topic, payload, key=rec["camera_id"], on_delivery=delivered(len(records))
        )
        prod.poll(0)
        records.append(rec)
        rows += 1 + len(rec["detections"])
    if prod.flush(60) or len(sources) != len(records):
        raise RuntimeError("not every bench event was delivered")
    return [
        detection_rows(cast(DetectionEvent, rec), (topic, *sources[i]))
        for i, rec in enumerate(records)
    ]


def sink_round(settings: VigilSettings, client: ClickHouseClient, expect: int) -> tuple[int, float]:
    """One whole-sink run over the topic into a fresh database: rows written, seconds."""
    db = f"bench_{uuid.uuid4().hex[:8]}"
    group = f"bench-sink-{uuid.uuid4().hex[:8]}"
    conf = settings.clickhouse_sink.model_copy(update={"group_id": group})
    mine = settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(update={"database": db}),
            "clickhouse_sink": conf,
        }
    )
    sink = TimedSink(mine, client, expect)
    sink.prepare()
    stop = threading.Event()
    deadline = time.monotonic() + 600

    def check() -> None:
        if sink.done is not None or time.monotonic() > deadline:
            stop.set()

    sink.run(stop, idle=check)
    if sink.first is None or sink.done is None:
        raise RuntimeError(f"the sink did not finish: {sink.stats}")
    elapsed = sink.done - sink.first
    settle(client, db)
    return sink.stats.rows, elapsed


def kafka_bench(settings: VigilSettings, total_rows: int, rounds: int) -> dict[str, Any]:
    """The whole sink from Kafka against a bare insert of the rows it writes, alternating."""
    items = produce(settings, total_rows)
    batches = columns_of(items, settings.clickhouse_sink.batch_max_rows)
    rows = sum(m.row_count for m in items)
    client = connect(settings)
    try:
        bare(client, columns_of(items[:200], SINK_BATCH))  # warm-up
        t_bare = t_sink = float("inf")
        written = 0
        for _ in range(rounds):
            t_bare = min(t_bare, bare(client, batches))
            written, elapsed = sink_round(settings, client, len(items))
            t_sink = min(t_sink, elapsed)
    finally:
        client.close()
    if written != rows:
        raise RuntimeError(f"the sink wrote {written} rows, expected {rows}")
    ratio = round(t_bare / t_sink, 3)
    backend = "chdb" if not settings.clickhouse.url else "server"
    return {
        "events": len(items),
        "rows": rows,
        "rows_per_batch": settings.clickhouse_sink.batch_max_rows,
        "rounds": rounds,
        "sink_from_kafka_rows_per_s": round(rows / t_sink),
        "bare_rows_per_s": round(rows / t_bare),
        "ratio": goal(ratio, ">=", GOAL, why=f"{backend}: {WHY}"),
    }


def kafka_results(root: Path, url: str | None, rows: int, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with kafka_broker(root / "kafka") as broker:
        for backend, backend_url in (("chdb", ""), ("server", url)):
            if backend_url is None:
                out[backend] = {
                    "skipped": "no clickhouse-server installed",
                    "ratio": goal(None, ">=", GOAL, why="not measured: no clickhouse-server"),
                }
                continue
            settings = VigilSettings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
                topics=TopicSettings(prefix=f"b{uuid.uuid4().hex[:8]}"),
                clickhouse=ClickHouseSettings(url=backend_url, database="bench_kafka"),
                clickhouse_sink=ClickHouseSinkSettings(batch_max_rows=SINK_BATCH),
                data_dir=root / f"kafka-{backend}",
            )
            out[backend] = kafka_bench(settings, rows, rounds)
    return out


def run(
    kafka: bool = True, rows: int = 100_000, rounds: int = 3, writer: bool = True
) -> dict[str, Any]:
    """The bench's JSON document (``kafka``: the whole-sink figures the goals are on)."""
    out: dict[str, Any] = {"bench": "sink", "machine": machine(), "results": {}}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-sink-") as tmp:
        root = Path(tmp)
        with server_url(root / "server") as url:
            if kafka:
                out["results"]["kafka"] = kafka_results(root, url, rows, rounds)
            for backend, backend_url in (("chdb", ""), ("server", url)):
                if backend_url is None:
                    out["results"][backend] = "skipped: no clickhouse-server installed"
                    continue
                client = connect(
                    VigilSettings(
                        clickhouse=ClickHouseSettings(url=backend_url),
                        data_dir=root / f"bare-{backend}",
                    )
                )
                part: dict[str, Any] = {"version": client.query("SELECT version()")[0][0]}
                part["methods"] = methods_bench(client, rows, rounds)
                if writer:
                    part["writer_vs_bare"] = writer_bench(client, rows, rounds)
                out["results"][backend] = part
                client.close()
    out["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per contender (best kept)")
    parser.add_argument("--kafka", action="store_true", help="the whole sink from Kafka")
    parser.add_argument("--no-writer", action="store_true", help="skip the writer section")
    args = parser.parse_args()
    print(
        json.dumps(
            run(kafka=args.kafka, rows=args.rows, rounds=args.rounds, writer=not args.no_writer),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
