"""ClickHouse sink throughput: rows/s through the exactly-once writer against a bare INSERT of the
same rows into the same schema, side by side in one run, at 1k, 10k and 100k rows per batch,
on chDB and (when installed) the ClickHouse server. ``--kafka`` adds the whole sink (Kafka
consume, Avro decode, row mapping, offsets) against the bare insert of its rows.

Prints JSON; the ratios (sink / bare, goal >= 0.8) are what to watch.
Run: ``python -m bench.sink [--kafka] [--rows N]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.rows import COLUMNS, Mapped, detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from schemas.types import DetectionEvent
from vigil.clickhouse import ClickHouseClient, connect
from vigil.stack import find_server_binary
from vigil.testing import clickhouse_server, kafka_broker, poll_until
from vigil.testing.samples import detection_event
from vigil_app.settings import (
    ClickHouseSettings,
    ClickHouseSinkSettings,
    KafkaSettings,
    TopicSettings,
    VigilSettings,
)

BATCHES = (1_000, 10_000, 100_000)


def events(total_rows: int, topic: str = "bench.detections") -> list[Mapped]:
    """Decoded events worth about ``total_rows`` rows (1 frame row + 0..3 objects each)."""
    base = int(time.time() * 1000)
    out: list[Mapped] = []
    rows = 0
    i = 0
    template = detection_event()
    while rows < total_rows:
        record = {
            **template,
            "frame_id": f"f-{i}",
            "camera_id": f"cam-{i % 8}",
            "sequence": i,
            "capture_ts_ms": base + i,
            "detections": template["detections"][: i % 3] + template["detections"][: i % 2],
        }
        mapped = detection_rows(cast(DetectionEvent, record), (topic, i % 4, i // 4))
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


def fresh_db(client: ClickHouseClient) -> tuple[str, bool]:
    """A new database with the sink's schema; whether INSERT tokens are supported."""
    db = f"bench_{uuid.uuid4().hex[:8]}"
    caps = migrate(client, db, Retention())
    return db, caps.dedup_token


def settle(client: ClickHouseClient, db: str) -> None:
    """Drop the run's database and let background merges finish, so runs start alike."""
    client.query(f"DROP DATABASE {db}")
    poll_until(lambda: not client.query("SELECT count() FROM system.merges")[0][0], 30, 0.2)


def bare(client: ClickHouseClient, items: list[Mapped], batch: int) -> float:
    db, _ = fresh_db(client)
    start = time.perf_counter()
    for chunk in chunks(items, batch):
        for table in ("frames", "detections"):
            rows = [r for m in chunk for r in m.rows.get(table, [])]
            client.insert(f"{db}.{table}", [c for c, _ in COLUMNS[table]], rows)
    elapsed = time.perf_counter() - start
    settle(client, db)
    return elapsed


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


def writer_bench(client: ClickHouseClient, total_rows: int) -> list[dict[str, Any]]:
    items = events(total_rows)
    rows = sum(m.row_count for m in items)
    results = []
    for batch in BATCHES:
        bare(client, items[:200], batch)  # warm-up
        # alternate the order so neither side always runs first; best of three each
        t_bare = t_sink = float("inf")
        for _ in range(3):
            t_bare = min(t_bare, bare(client, items, batch))
            t_sink = min(t_sink, through_writer(client, items, batch))
        results.append(
            {
                "rows_per_batch": batch,
                "rows": rows,
                "bare_rows_per_s": round(rows / t_bare),
                "sink_rows_per_s": round(rows / t_sink),
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


def kafka_bench(settings: VigilSettings, total_rows: int) -> dict[str, Any]:
    """The whole sink from Kafka against a bare insert of the rows it wrote."""
    from connectors.sinks.clickhouse.sink import ClickHouseSink
    from schemas.contracts import serde_for
    from vigil import kafka
    from vigil.topics import Topic, ensure_topics, topic_specs, wait_for_leaders

    admin = kafka.admin(settings)
    ensure_topics(admin, topic_specs(settings.topics))
    topic = Topic.DETECTIONS.name_in(settings.topics)
    wait_for_leaders(admin, [t.name_in(settings.topics) for t in Topic])
    serde = serde_for(settings, Topic.DETECTIONS)
    prod = kafka.producer(settings)
    template = detection_event()
    base = int(time.time() * 1000)
    sent = rows = 0
    while rows < total_rows:
        dets = template["detections"][: sent % 3] + template["detections"][: sent % 2]
        record = {**template, "capture_ts_ms": base + sent, "detections": dets}
        kafka.produce(prod, topic, serde.serialize(record, topic=topic), key=f"cam-{sent % 8}")
        prod.poll(0)
        sent += 1
        rows += 1 + len(dets)
    prod.flush(60)
    client = connect(settings)
    sink = ClickHouseSink(settings, client, topics=[Topic.DETECTIONS])
    sink.prepare()
    stop = threading.Event()
    began: list[float] = []

    def check() -> None:
        if not began and sink.stats.messages:
            began.append(time.perf_counter())
        if sink.idle and sink.stats.messages >= sent:
            stop.set()

    sink.run(stop, idle=check)
    t_sink = time.perf_counter() - began[0]
    items = events(rows)
    t_bare = bare(client, items, settings.clickhouse_sink.batch_max_rows)
    client.close()
    return {
        "backend": "chdb" if not settings.clickhouse.url else "server",
        "events": sent,
        "rows": sink.stats.rows,
        "rows_per_batch": settings.clickhouse_sink.batch_max_rows,
        "sink_from_kafka_rows_per_s": round(sink.stats.rows / t_sink),
        "bare_rows_per_s": round(rows / t_bare),
        "ratio": round((sink.stats.rows / t_sink) / (rows / t_bare), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per measurement")
    parser.add_argument("--kafka", action="store_true", help="also the whole sink from Kafka")
    args = parser.parse_args()
    out: dict[str, Any] = {"bench": "sink", "python": platform.python_version(), "results": {}}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-sink-") as tmp:
        root = Path(tmp)
        chdb = connect(VigilSettings(data_dir=root / "chdb"))
        out["results"]["chdb"] = {
            "version": chdb.query("SELECT version()")[0][0],
            "writer_vs_bare": writer_bench(chdb, args.rows),
        }
        chdb.close()
        with server_url(root / "server") as url:
            if url is None:
                out["results"]["server"] = "skipped: no clickhouse-server installed"
            else:
                server = connect(VigilSettings(clickhouse=ClickHouseSettings(url=url)))
                out["results"]["server"] = {
                    "version": server.query("SELECT version()")[0][0],
                    "writer_vs_bare": writer_bench(server, args.rows),
                }
                server.close()
            if args.kafka:
                out["results"]["kafka"] = run_kafka(root, url, args.rows)
    print(json.dumps(out, indent=2))


def run_kafka(root: Path, url: str | None, rows: int) -> list[dict[str, Any]]:
    with kafka_broker(root / "kafka") as broker:
        results = []
        for backend_url in ("", url):
            if backend_url is None:
                continue
            settings = VigilSettings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
                topics=TopicSettings(prefix=f"b{uuid.uuid4().hex[:8]}"),
                clickhouse=ClickHouseSettings(url=backend_url, database="bench_kafka"),
                clickhouse_sink=ClickHouseSinkSettings(batch_max_rows=10_000),
                data_dir=root / f"kafka-{uuid.uuid4().hex[:4]}",
            )
            results.append(kafka_bench(settings, rows))
        return results


if __name__ == "__main__":
    main()
