"""The shape of the sink's DDL on one server or on a cluster, so the migrations are written once.

With no cluster (chDB, or one server) every helper returns what the statements always said:
``CREATE TABLE IF NOT EXISTS db.t``, ``ENGINE = MergeTree`` and so on. With a cluster
(``clickhouse.cluster``) the same statements get

- ``ON CLUSTER <name>`` on every CREATE and ALTER, so each server of the cluster runs them;
- ``Replicated*MergeTree('<replica_path>', '<replica_name>', ...)`` for every ``*MergeTree``,
  ``{database}`` and ``{table}`` in the path filled in here (ClickHouse 18.16 knows no such
  macros), ``{shard}`` and ``{replica}`` left to each server's ``<macros>``;
- a ``Distributed`` table ``<table>_all`` in front of each local table, for reading across
  shards. The sink never inserts through it (README, "ClickHouse on a cluster"): it inserts into
  the local replicated table, where a repeated INSERT is deduplicated in Keeper.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.sections import ClickHouseSettings

DISTRIBUTED_SUFFIX = "_all"


@dataclass(frozen=True)
class Cluster:
    """A ClickHouse cluster of ``remote_servers`` the migrations run ON CLUSTER."""

    name: str
    replica_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    replica_name: str = "{replica}"

    @classmethod
    def of(cls, settings: ClickHouseSettings) -> Cluster | None:
        """The configured cluster; None for one server or chDB."""
        if not settings.cluster:
            return None
        return cls(settings.cluster, settings.replica_path, settings.replica_name)

    def path(self, db: str, table: str) -> str:
        return self.replica_path.replace("{database}", db).replace("{table}", table)


@dataclass(frozen=True)
class Ddl:
    """The pieces of DDL that differ between one server and a cluster, for database ``db``."""

    db: str
    cluster: Cluster | None = None

    @property
    def on(self) -> str:
        """`` ON CLUSTER <name>``, or nothing."""
        return f" ON CLUSTER {self.cluster.name}" if self.cluster else ""

    def create(self, table: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.db}.{table}{self.on}"

    def create_view(self, name: str, materialized: bool = False) -> str:
        kind = "MATERIALIZED VIEW" if materialized else "VIEW"
        return f"CREATE {kind} IF NOT EXISTS {self.db}.{name}{self.on}"

    def create_database(self) -> str:
        return f"CREATE DATABASE IF NOT EXISTS {self.db}{self.on}"

    def engine(self, table: str, kind: str, *args: str) -> str:
        """``kind`` (``MergeTree``, ``ReplacingMergeTree``...) with its ``args``, replicated on a
        cluster: the Keeper path and replica name come first, the engine's own args after."""
        if self.cluster is None:
            return f"{kind}({', '.join(args)})" if args else kind
        path = self.cluster.path(self.db, table)
        replicated = [_quoted(path), _quoted(self.cluster.replica_name), *args]
        return f"Replicated{kind}({', '.join(replicated)})"

    def dedup_window(self, non_replicated: bool) -> str:
        """Table settings for the deduplication of repeated INSERTs: on a cluster the window of
        block hashes kept in Keeper; on one server the local one where the server has it."""
        if self.cluster is not None:
            return " SETTINGS replicated_deduplication_window = 1000"
        return " SETTINGS non_replicated_deduplication_window = 1000" if non_replicated else ""

    def front(self, table: str, sharding_key: str) -> list[str]:
        """On a cluster, the ``Distributed`` table ``<table>_all`` over every shard's ``table``
        (its columns copied from it); nothing on one server. ``sharding_key`` says where a row
        inserted through it would go: by Kafka partition for the event tables, so a repeated
        insert lands on the same shard, and by the replacing key for ReplacingMergeTree tables,
        whose rows replace each other only within a shard."""
        if self.cluster is None:
            return []
        name = self.cluster.name
        return [
            f"{self.create(table + DISTRIBUTED_SUFFIX)} AS {self.db}.{table} "
            f"ENGINE = Distributed({name}, {self.db}, {table}, {sharding_key})"
        ]

    def with_front(self, table: str) -> list[str]:
        """``table`` and, on a cluster, its Distributed front (which keeps its own copy of the
        columns, so a column added to one is added to both)."""
        return [table] if self.cluster is None else [table, table + DISTRIBUTED_SUFFIX]

    def alter(self, table: str, action: str) -> str:
        return f"ALTER TABLE {self.db}.{table}{self.on} {action}"


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
