"""The migrations' DDL on one server and on a cluster, as pure logic: one set of statements,
ON CLUSTER / Replicated* / Distributed only when ``clickhouse.cluster`` is set."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.ddl import Cluster, Ddl
from connectors.sinks.clickhouse.queries import named_queries, view_statements
from connectors.sinks.clickhouse.schema import (
    MIGRATIONS,
    Capabilities,
    Context,
    Retention,
    bookkeeping,
)
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from vigil_app.settings import ClickHouseSettings

NEW = Capabilities("25.1.3", 25, 1)
OLD = Capabilities("18.16.1", 18, 16)
CLUSTER = Cluster("analytics")
LOCAL_TABLES = (
    "frames",
    "detections",
    "alerts",
    "drift",
    "detections_per_minute",
    "labels",
    "accuracy",
    "accuracy_alerts",
)


def everything(ctx: Context) -> list[str]:
    """Every statement a migration of an empty database runs, in order."""
    statements = bookkeeping(ctx.ddl)
    for migration in MIGRATIONS:
        statements += migration.statements(ctx)
    return statements + view_statements(ctx.ddl)


def engines(statements: list[str]) -> dict[str, str]:
    """table -> its ENGINE clause (up to PARTITION/ORDER BY)."""
    found = {}
    for sql in statements:
        m = re.match(
            r"CREATE TABLE IF NOT EXISTS \w+\.(\w+).*? ENGINE = (.+?)(?: PARTITION| ORDER|$)", sql
        )
        if m:
            found[m.group(1)] = m.group(2)
    return found


@pytest.mark.parametrize("caps", [NEW, OLD], ids=["25.1", "18.16"])
def test_one_server_ddl_is_plain(caps: Capabilities) -> None:
    statements = everything(Context("vigil", caps, Retention()))
    text = "\n".join(statements)
    assert "ON CLUSTER" not in text
    assert "Replicated" not in text
    assert "Distributed" not in text
    assert engines(statements) == {
        "schema_migrations": "MergeTree",
        "frames": "MergeTree",
        "detections": "MergeTree",
        "alerts": "MergeTree",
        "drift": "MergeTree",
        "detections_per_minute": "AggregatingMergeTree",
        "labels": "ReplacingMergeTree(imported_ms)",
        "accuracy": "ReplacingMergeTree(computed_ms)",
        "accuracy_alerts": "ReplacingMergeTree(raised_ms)",
    }
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS vigil"
    dedup = "SETTINGS non_replicated_deduplication_window = 1000"
    assert (dedup in text) is caps.dedup_token
    # bookkeeping, 4 event tables, rollup and its view, 2 added columns, 3 accuracy tables
    assert len(statements) == 2 + 4 + 2 + 2 + 3 + len(named_queries())


def test_cluster_ddl_is_on_cluster_replicated_with_distributed_fronts() -> None:
    statements = everything(Context("vigil", NEW, Retention(), cluster=CLUSTER))
    named = r"^(CREATE (TABLE|DATABASE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS|ALTER TABLE) vigil"
    for sql in statements:  # every statement runs on every server of the cluster
        assert re.match(named + r"(\.\w+)? ON CLUSTER analytics( |$)", sql), sql
    found = engines(statements)
    path = "'/clickhouse/tables/{shard}/vigil/%s', '{replica}'"
    assert found["schema_migrations"] == f"ReplicatedMergeTree({path % 'schema_migrations'})"
    assert found["detections"] == f"ReplicatedMergeTree({path % 'detections'})"
    assert (
        found["detections_per_minute"]
        == f"ReplicatedAggregatingMergeTree({path % 'detections_per_minute'})"
    )
    assert (
        found["labels"] == f"ReplicatedReplacingMergeTree({path % 'labels'}, imported_ms)"
    )  # the engine's own version column after the Keeper path and replica
    assert found["accuracy_alerts"] == (
        f"ReplicatedReplacingMergeTree({path % 'accuracy_alerts'}, raised_ms)"
    )
    front = re.compile(
        r"CREATE TABLE IF NOT EXISTS vigil\.(\w+)_all ON CLUSTER analytics AS vigil\.(\w+)"
        r" ENGINE = Distributed\(analytics, vigil, (\w+), (.+)\)$"
    )
    fronts = [m.groups() for sql in statements if (m := front.match(sql))]
    assert sorted(name for name, *_ in fronts) == sorted(LOCAL_TABLES)  # all but bookkeeping
    assert all(name == source == local for name, source, local, _ in fronts)
    keys = {name: key for name, _, _, key in fronts}
    assert keys["detections"] == "cityHash64(kafka_topic, kafka_partition)"
    assert keys["labels"] == "cityHash64(dataset, frame_id)"  # replacing rows share a shard
    assert keys["accuracy_alerts"] == "cityHash64(alert_id)"
    text = "\n".join(statements)
    assert "non_replicated_deduplication_window" not in text
    assert text.count("SETTINGS replicated_deduplication_window = 1000") == 4  # event tables
    (view,) = [s for s in statements if "MATERIALIZED VIEW" in s]
    assert view.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS vigil.detections_per_minute_mv "
        "ON CLUSTER analytics TO vigil.detections_per_minute AS SELECT"
    )
    assert " FROM vigil.detections GROUP BY" in view  # fed by the local table's INSERTs


def test_cluster_and_one_server_ddl_differ_only_in_cluster_parts() -> None:
    """One code path: removing what the cluster adds gives the one-server statements."""
    plain = everything(Context("vigil", NEW, Retention()))
    clustered = [
        s
        for s in everything(Context("vigil", NEW, Retention(), cluster=CLUSTER))
        if not re.match(r"\w+ TABLE (IF NOT EXISTS )?vigil\.\w+_all ", s)  # the fronts
    ]
    undone = [
        re.sub(r"Replicated(\w*MergeTree)\('[^']*', '\{replica\}'(?:, )?", r"\1(", s)
        .replace(" ON CLUSTER analytics", "")
        .replace("MergeTree()", "MergeTree")
        .replace(
            "SETTINGS replicated_deduplication_window",
            "SETTINGS non_replicated_deduplication_window",
        )
        for s in clustered
    ]
    assert undone == plain


def test_added_columns_reach_the_table_and_its_front() -> None:
    v4 = MIGRATIONS[3].statements
    assert v4(Context("vigil", NEW, Retention())) == [
        "ALTER TABLE vigil.frames ADD COLUMN carried_from Nullable(String) AFTER frame_height",
        "ALTER TABLE vigil.detections ADD COLUMN carried_from Nullable(String) AFTER frame_height",
    ]
    half = frozenset({("detections", "carried_from")})  # a crash between two ALTERs
    assert v4(Context("vigil", NEW, Retention(), half, CLUSTER)) == [
        "ALTER TABLE vigil.frames ON CLUSTER analytics ADD COLUMN carried_from Nullable(String) "
        "AFTER frame_height",
        "ALTER TABLE vigil.frames_all ON CLUSTER analytics ADD COLUMN carried_from "
        "Nullable(String) AFTER frame_height",
        "ALTER TABLE vigil.detections_all ON CLUSTER analytics ADD COLUMN carried_from "
        "Nullable(String) AFTER frame_height",
    ]
    assert Ddl("vigil", CLUSTER).alter("alerts", "MODIFY TTL t + INTERVAL 1 SECOND") == (
        "ALTER TABLE vigil.alerts ON CLUSTER analytics MODIFY TTL t + INTERVAL 1 SECOND"
    )


def test_cluster_settings() -> None:
    url = "clickhouse://default@ch1:9000/default"
    conf = ClickHouseSettings(url=url, cluster="analytics", replica_path="/ch/{shard}/{table}")
    assert Cluster.of(conf) == Cluster("analytics", "/ch/{shard}/{table}", "{replica}")
    assert Cluster.of(ClickHouseSettings(url=url)) is None
    assert Cluster.of(ClickHouseSettings()) is None
    assert Cluster("c", "/t/{shard}/{database}/{table}").path("db", "x") == "/t/{shard}/db/x"
    with pytest.raises(ValidationError, match="embedded chDB is one server"):
        ClickHouseSettings(cluster="analytics")
    with pytest.raises(ValidationError, match="must contain"):
        ClickHouseSettings(url=url, cluster="analytics", replica_path="/ch/{shard}")
    with pytest.raises(ValidationError, match="cluster"):
        ClickHouseSettings(url=url, cluster="a; DROP TABLE x")


class Recording:
    """A ClickHouse double that remembers the statements (pure logic of the writer)."""

    backend = "server"

    def __init__(self) -> None:
        self.sql: list[str] = []

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        self.sql.append(sql)
        return []

    def query_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        return [], self.query(sql)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        self.sql.append(f"INSERT INTO {table}")

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        self.sql.append(f"INSERT INTO {table}")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("replicated", [False, True])
def test_offsets_are_read_after_the_replica_synced(replicated: bool) -> None:
    """On replicated tables a lagging replica must not tell the writer less than the shard
    holds: SYSTEM SYNC REPLICA before every read of the stored offsets, and only then."""
    client = Recording()
    writer = ClickHouseWriter(client, "vigil", BatchPolicy(10, 1), replicated=replicated)
    writer.resume_offsets([("t.detections", 0)], {"t.detections": ("detections",)})
    writer.stored_max("detections", [("t.detections", 0)])  # cached: no second read
    assert [sql.split()[0] for sql in client.sql] == (
        ["SYSTEM", "SELECT"] if replicated else ["SELECT"]
    )
    if replicated:
        assert client.sql[0] == "SYSTEM SYNC REPLICA vigil.detections"
    assert " FROM vigil.detections WHERE " in client.sql[-1]
