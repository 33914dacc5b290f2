"""The sink's migrations ON CLUSTER on real replicas: one shard of two ClickHouse servers
replicating through a real ZooKeeper (Debian's packages), and a repeated INSERT of the same
batch, to either replica, stored once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import cast

import pytest

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.ddl import Cluster
from connectors.sinks.clickhouse.rows import COLUMNS, Mapped, detection_rows
from connectors.sinks.clickhouse.schema import MIGRATIONS, Retention, applied_versions, migrate
from connectors.sinks.clickhouse.writer import ClickHouseWriter, token
from schemas.types import DetectionEvent
from tests.conftest import IN_CI
from tests.connectors.sinks.clickhouse.support import detection_event, now_ms
from vigil.clickhouse import ClickHouseClient, ServerClickHouse
from vigil.stack import find_server_binary
from vigil.testing import free_port
from vigil.testing.clickhouse_cluster import (
    ReplicatedClickHouse,
    clickhouse_cluster,
    find_zookeeper,
)
from vigil_app.settings import ClickHouseSettings

TOPIC = "t.detections"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicatedClickHouse]:
    missing = [
        what
        for what, found in (
            ("clickhouse-server", find_server_binary()),
            ("zookeeper", find_zookeeper()),
        )
        if found is None
    ]
    if missing:
        why = f"no {' or '.join(missing)} installed (apt-get install {' '.join(missing)})"
        if IN_CI:
            pytest.fail(f"CI must test ClickHouse replication: {why}")
        pytest.skip(why)
    with clickhouse_cluster(tmp_path_factory.mktemp("chcluster"), replicas=2) as cluster:
        yield cluster


def _batch(first: int, count: int) -> list[Mapped]:
    start = now_ms() // 3_600_000 * 3_600_000  # one UTC day, so one INSERT per table
    return [
        detection_rows(
            cast(DetectionEvent, detection_event(i, f"cam-{i % 3}", 1 + i % 3, start + i)),
            (TOPIC, 0, i),
        )
        for i in range(first, first + count)
    ]


def _count(client: ClickHouseClient, sql: str) -> int:
    return int(client.query(sql)[0][0])


def test_migrations_on_cluster_and_a_repeated_insert_stored_once(
    replicas: ReplicatedClickHouse,
) -> None:
    db = f"t_{uuid.uuid4().hex[:10]}"
    first, second = replicas.servers
    conf = ClickHouseSettings(url=first.url, database=db, cluster=replicas.cluster)
    cluster = Cluster.of(conf)
    one, two = ServerClickHouse(first.url), ServerClickHouse(second.url)
    clients = [one, two]
    try:
        caps = migrate(one, db, Retention(), cluster)
        assert migrate(two, db, Retention(), cluster) == caps  # idempotent, from either
        tables: list[dict[str, str]] = []
        for client in (one, two):  # ON CLUSTER made everything on both
            client.query(f"SYSTEM SYNC REPLICA {db}.schema_migrations")
            assert applied_versions(client, db) == {m.version for m in MIGRATIONS}
            rows = client.query(f"SELECT name, engine FROM system.tables WHERE database = '{db}'")
            tables.append({str(name): str(engine) for name, engine in rows})
        assert tables[0] == tables[1]
        engines = tables[0]
        assert engines["detections"] == "ReplicatedMergeTree"
        assert engines["detections_per_minute"] == "ReplicatedAggregatingMergeTree"
        assert engines["labels"] == "ReplicatedReplacingMergeTree"
        assert engines["schema_migrations"] == "ReplicatedMergeTree"
        assert engines["detections_all"] == engines["labels_all"] == "Distributed"
        assert engines["detections_per_minute_mv"] == "MaterializedView"

        # The sink writes a batch through replica 1; replica 2 lags (fetches stopped).
        two.query(f"SYSTEM STOP FETCHES {db}.detections")
        items = _batch(0, 40)
        writer = ClickHouseWriter(one, db, BatchPolicy(100_000, 60), replicated=True)
        writer.dedup_tokens = caps.dedup_token
        for item in items:
            writer.add(item, item.row_count)
        writer.flush()
        rows = [row for m in items for row in m.rows["detections"]]
        assert _count(one, f"SELECT count() FROM {db}.detections") == len(rows)

        # Its acknowledgement "lost", the same INSERT is sent again, as the writer sends it
        # (same rows, same order, same token where the server has tokens): to the lagging
        # replica, then to replica 1. Keeper knows the block; both are dropped.
        columns = [c for c, _ in COLUMNS["detections"]]
        same = {"insert_deduplication_token": token("detections", items)}
        for client in (two, one):
            client.insert(f"{db}.detections", columns, rows, same if caps.dedup_token else None)
        assert _count(two, f"SELECT count() FROM {db}.detections") == 0  # dropped, not kept

        two.query(f"SYSTEM START FETCHES {db}.detections")
        for client in (one, two):
            for table in ("detections", "frames", "detections_per_minute"):
                client.query(f"SYSTEM SYNC REPLICA {db}.{table}")
        for client in (one, two):
            assert _count(client, f"SELECT count() FROM {db}.detections") == len(rows)
            assert _count(client, f"SELECT count() FROM {db}.detections_all") == len(rows)
            assert _count(client, f"SELECT count() FROM {db}.frames_all") == len(items)
            distinct = f"SELECT uniqExact(kafka_offset, object_index) FROM {db}.detections_all"
            assert _count(client, distinct) == len(rows)
            # a dropped block never reaches the materialized view either
            rollup = f"SELECT countMerge(detections) FROM {db}.detections_per_minute_all"
            assert _count(client, rollup) == len(rows)

        # A database made on one server is not silently kept unreplicated under the setting.
        plain = f"{db}_plain"
        migrate(one, plain, Retention())
        with pytest.raises(ValueError, match="not replicated"):
            migrate(one, plain, Retention(), cluster)
        assert _count(two, f"SELECT count() FROM system.databases WHERE name = '{plain}'") == 0
        one.query(f"DROP DATABASE {plain}")

        # A sink whose URL's server is down (a free port) fails over to replica 2 (alt_hosts),
        # resumes past the batch there and writes nothing again.
        failover = ServerClickHouse(
            f"clickhouse://default@127.0.0.1:{free_port()}/default"
            f"?alt_hosts=127.0.0.1:{second.tcp_port}&connect_timeout=1"
        )
        clients.append(failover)
        macro = "SELECT substitution FROM system.macros WHERE macro = 'replica'"
        assert failover.query(macro) == [("r2",)]
        again = ClickHouseWriter(failover, db, BatchPolicy(100_000, 60), replicated=True)
        assert again.resume_offsets([(TOPIC, 0)], {TOPIC: ("detections", "frames")}) == {
            (TOPIC, 0): 40
        }
        more = _batch(40, 10)
        for item in items[30:] + more:  # the new owner re-reads the last 10 and 10 new ones
            again.add(item, item.row_count)
        again.flush()
        one.query(f"SYSTEM SYNC REPLICA {db}.detections")
        expected = len(rows) + sum(len(m.rows["detections"]) for m in more)
        assert _count(one, f"SELECT count() FROM {db}.detections_all") == expected
        assert _count(one, f"SELECT max(kafka_offset) FROM {db}.detections") == 49
    finally:
        for client in (one, two):
            client.query(f"DROP DATABASE IF EXISTS {db}")
        for client in clients:
            client.close()
