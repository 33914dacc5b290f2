"""Versioned migrations, applied at start-up, with the schema adapted to what the backend can do.

``<db>.schema_migrations`` records each applied version. Every statement is idempotent
(``IF NOT EXISTS``), so a crash half-way through a migration is repaired by the next start.
Differences by server version are detected with ``SELECT version()`` and logged at WARNING,
never silently: ClickHouse 18.16 (Debian's package) has no TTL, so retention there is the
operator's job (README, "Backend differences").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge

from connectors.sinks.clickhouse.accuracy_tables import accuracy_tables
from connectors.sinks.clickhouse.ddl import Cluster, Ddl
from connectors.sinks.clickhouse.queries import view_statements
from connectors.sinks.clickhouse.rows import ADDED_COLUMNS, COLUMNS
from vigil.clickhouse import ClickHouseClient

# Identifiers put into SQL here are the database name (settings pattern
# ^[A-Za-z_][A-Za-z0-9_]*$) and table names of our own, hence the S608 exemptions.

log = logging.getLogger(__name__)

FEATURES = Gauge(
    "vigil_clickhouse_feature", "1 if the connected ClickHouse supports the feature", ["feature"]
)


@dataclass(frozen=True)
class Capabilities:
    """What the connected ClickHouse supports, from its version."""

    version: str
    major: int
    minor: int

    @classmethod
    def of(cls, client: ClickHouseClient) -> Capabilities:
        version = str(client.query("SELECT version()")[0][0])
        parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]]
        major, minor = [*parts, 0, 0][:2]
        return cls(version, major, minor)

    @property
    def ttl(self) -> bool:
        """Table TTL arrived in ClickHouse 19.6."""
        return (self.major, self.minor) >= (19, 6)

    @property
    def dedup_token(self) -> bool:
        """``insert_deduplication_token`` (22.2) with ``non_replicated_deduplication_window``."""
        return (self.major, self.minor) >= (22, 2)

    def missing(self) -> list[str]:
        gaps = []
        if not self.ttl:
            gaps.append("TTL (retention must be done by the operator)")
        if not self.dedup_token:
            gaps.append(
                "insert_deduplication_token (an INSERT whose acknowledgement is lost while "
                "the server still applies it can be repeated; see README)"
            )
        return gaps


@dataclass(frozen=True)
class Retention:
    personal_hours: float = 72.0
    aggregate_days: float = 395.0


@dataclass(frozen=True)
class Context:
    db: str
    caps: Capabilities
    retention: Retention
    present: frozenset[tuple[str, str]] = frozenset()  # (table, column) pairs db holds now
    cluster: Cluster | None = None  # None: one server (or chDB)

    @property
    def ddl(self) -> Ddl:
        return Ddl(self.db, self.cluster)

    def dedup(self) -> str:
        """Plain MergeTree deduplicates retried INSERTs only with a window (22.2+ tokens);
        replicated tables always do, by block hashes kept in Keeper."""
        return self.ddl.dedup_window(non_replicated=self.caps.dedup_token)

    def ttl(self, column: str, personal: bool) -> str:
        if not self.caps.ttl:
            return ""
        return f" TTL {column} + INTERVAL {_ttl_seconds(self, personal)} SECOND"


# (table, time column, its ms source column, personal data?)
_TIMED = {
    "detections": ("capture_time", "capture_ts_ms", True),
    "frames": ("capture_time", "capture_ts_ms", False),
    "alerts": ("alert_time", "alert_ts_ms", True),
    "drift": ("window_start", "window_start_ms", False),
}


def _event_table(ctx: Context, table: str) -> str:
    time_col, ms_col, personal = _TIMED[table]
    cols = [f"{name} {kind}" for name, kind in COLUMNS[table]]
    cols.append(f"{time_col} DateTime('UTC') DEFAULT toDateTime(intDiv({ms_col}, 1000), 'UTC')")
    source = "kafka_topic, kafka_partition, kafka_offset"
    extra = ", object_index" if table == "detections" else ""
    return (
        f"{ctx.ddl.create(table)} ({', '.join(cols)}) "
        f"ENGINE = {ctx.ddl.engine(table, 'MergeTree')} PARTITION BY toYYYYMMDD({time_col}) "
        f"ORDER BY (camera_id, {time_col}, {source}{extra})"
        + ctx.ttl(time_col, personal)
        + ctx.dedup()
    )


# Rows of one Kafka partition stay on one shard, so an INSERT repeated through a Distributed
# table reaches the shard that can deduplicate it.
BY_KAFKA_PARTITION = "cityHash64(kafka_topic, kafka_partition)"


def _v1_tables(ctx: Context) -> list[str]:
    return [
        statement
        for table in ("frames", "detections", "alerts", "drift")
        for statement in [_event_table(ctx, table), *ctx.ddl.front(table, BY_KAFKA_PARTITION)]
    ]


ROLLUP_SELECT = (
    "SELECT camera_id, label, model_version, toStartOfMinute(capture_time) AS minute, "
    "kafka_topic, kafka_partition, countState() AS detections, "
    "quantilesState(0.5, 0.9, 0.99)(score) AS score_quantiles, "
    "maxState(kafka_offset) AS max_offset FROM {db}.detections{where} "
    "GROUP BY camera_id, label, model_version, minute, kafka_topic, kafka_partition"
)


def _v2_rollups(ctx: Context) -> list[str]:
    """Per camera x label x minute; the source partition and its highest offset are kept so a
    block the view missed (process killed mid-INSERT) can be rebuilt (``repair_rollups``)."""
    rollup = "detections_per_minute"
    return [
        f"{ctx.ddl.create(rollup)} ("
        "camera_id String, label String, model_version String, minute DateTime('UTC'), "
        "kafka_topic String, kafka_partition UInt32, "
        "detections AggregateFunction(count), "
        "score_quantiles AggregateFunction(quantiles(0.5, 0.9, 0.99), Float32), "
        "max_offset AggregateFunction(max, Int64)) "
        f"ENGINE = {ctx.ddl.engine(rollup, 'AggregatingMergeTree')} PARTITION BY toYYYYMM(minute) "
        "ORDER BY (camera_id, label, model_version, minute, kafka_topic, kafka_partition)"
        + ctx.ttl("minute", personal=False),
        *ctx.ddl.front(rollup, BY_KAFKA_PARTITION),
        # on a cluster each server's view fires on the INSERTs that server takes (a replica's
        # fetched parts do not trigger it): the rollup's replication carries the rest
        f"{ctx.ddl.create_view(rollup + '_mv', materialized=True)} "
        f"TO {ctx.db}.{rollup} AS " + ROLLUP_SELECT.format(db=ctx.db, where=""),
    ]


def _ttl_seconds(ctx: Context, personal: bool) -> int:
    r = ctx.retention
    return round(r.personal_hours * 3600) if personal else round(r.aggregate_days * 86400)


def ensure_ttl(client: ClickHouseClient, ctx: Context) -> list[str]:
    """Bring each table's TTL to the configured retention (tables keep the TTL they were
    created with otherwise); the tables altered. Only where TTL exists (>= 19.6)."""
    if not ctx.caps.ttl:
        return []
    timed = {t: (col, personal) for t, (col, _ms, personal) in _TIMED.items()}
    timed["detections_per_minute"] = ("minute", False)
    rows = client.query(
        f"SELECT name, create_table_query FROM system.tables WHERE database = '{ctx.db}'"  # noqa: S608
    )
    current = {str(name): str(sql) for name, sql in rows}
    altered = []
    for table, (column, personal) in timed.items():
        seconds = _ttl_seconds(ctx, personal)
        if table not in current or f"toIntervalSecond({seconds})" in current[table]:
            continue
        client.query(ctx.ddl.alter(table, f"MODIFY TTL {column} + INTERVAL {seconds} SECOND"))
        log.warning("retention of %s.%s changed to %d s", ctx.db, table, seconds)
        altered.append(table)
    return altered


def repair_rollups(client: ClickHouseClient, db: str) -> int:
    """Rebuild what the rollup lacks behind ``detections``, per source partition.

    ClickHouse writes an INSERT's block to the table, then to its materialized views; a
    process killed in between (chDB is in-process) leaves the rollup one block short while the
    table is complete, and the sink would never insert that block again. Returns the number of
    partitions repaired."""
    table = client.query(
        "SELECT kafka_topic, kafka_partition, toInt64(max(kafka_offset)) "  # noqa: S608
        f"FROM {db}.detections GROUP BY kafka_topic, kafka_partition"
    )
    rollup = client.query(
        "SELECT kafka_topic, kafka_partition, toInt64(maxMerge(max_offset)) "  # noqa: S608
        f"FROM {db}.detections_per_minute GROUP BY kafka_topic, kafka_partition"
    )
    covered = {(str(t), int(p)): int(o) for t, p, o in rollup}
    repaired = 0
    for topic, partition, top in table:
        done = covered.get((str(topic), int(partition)), -1)
        if int(top) <= done:
            continue
        where = (
            f" WHERE kafka_topic = '{topic}' AND kafka_partition = {int(partition)}"
            f" AND kafka_offset > {done}"
        )
        client.query(
            f"INSERT INTO {db}.detections_per_minute " + ROLLUP_SELECT.format(db=db, where=where)
        )
        log.warning("rollup rebuilt for %s[%s] after offset %d", topic, partition, done)
        repaired += 1
    return repaired


def _v3_views(_ctx: Context) -> list[str]:
    """Nothing now: a named query may read a table a later migration makes, so the views are
    made after every migrate (``ensure_views``), which also gives databases migrated before a
    query file was added its view."""
    return []


def ensure_views(client: ClickHouseClient, db: str, cluster: Cluster | None = None) -> None:
    """A view ``q_<name>`` for every named query that has none yet (idempotent). A query
    whose SQL changed keeps its old view until the view is dropped."""
    for statement in view_statements(Ddl(db, cluster)):
        client.query(statement)


def _v4_carried_from(ctx: Context) -> list[str]:
    """New DetectionEvent fields on tables made before them. 18.16 knows no ``ADD COLUMN IF
    NOT EXISTS``, so what a table already has comes from ``system.columns`` (``present``)."""
    kinds = {(t, name): kind for t, cols in COLUMNS.items() for name, kind in cols}
    return [
        ctx.ddl.alter(target, f"ADD COLUMN {column} {kinds[(table, column)]} AFTER {after}")
        for table, column, after in ADDED_COLUMNS
        for target in ctx.ddl.with_front(table)
        if (target, column) not in ctx.present
    ]


def _v5_accuracy(ctx: Context) -> list[str]:
    return accuracy_tables(ctx.ddl)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: Callable[[Context], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "event tables: frames, detections, alerts, drift", _v1_tables),
    Migration(2, "rollup: detections per camera x label x minute", _v2_rollups),
    Migration(3, "views for the named queries (dashboards/clickhouse)", _v3_views),
    Migration(4, "carried_from (motion-gated events) on frames and detections", _v4_carried_from),
    Migration(5, "ground truth and accuracy: labels, accuracy, accuracy_alerts", _v5_accuracy),
)


def applied_versions(client: ClickHouseClient, db: str) -> set[int]:
    rows = client.query(f"SELECT DISTINCT version FROM {db}.schema_migrations")  # noqa: S608
    return {int(r[0]) for r in rows}


def bookkeeping(ddl: Ddl) -> list[str]:
    """The database and its ``schema_migrations`` (replicated too on a cluster, so every
    server knows which migrations ran)."""
    return [
        ddl.create_database(),
        f"{ddl.create('schema_migrations')} (version UInt32, name String, applied_ms Int64) "
        f"ENGINE = {ddl.engine('schema_migrations', 'MergeTree')} ORDER BY version",
    ]


def _refuse_local_tables(client: ClickHouseClient, db: str) -> None:
    """``IF NOT EXISTS`` keeps a table made before the cluster was set: one server's tables
    would stay unreplicated under a setting that says otherwise, so that is an error."""
    rows = client.query(
        "SELECT name FROM system.tables "  # noqa: S608
        f"WHERE database = '{db}' AND engine LIKE '%MergeTree' AND engine NOT LIKE 'Replicated%'"
    )
    if rows:
        names = ", ".join(sorted(str(r[0]) for r in rows))
        raise ValueError(
            f"clickhouse.cluster is set but {db} holds tables that are not replicated ({names}): "
            "migrate into a new database, or unset clickhouse.cluster"
        )


def migrate(
    client: ClickHouseClient, db: str, retention: Retention, cluster: Cluster | None = None
) -> Capabilities:
    """Bring ``db`` to the newest schema; the backend's capabilities. With ``cluster`` every
    statement runs ON CLUSTER on replicated tables (``ddl``)."""
    caps = Capabilities.of(client)
    FEATURES.labels("ttl").set(int(caps.ttl))
    for gap in caps.missing():
        log.warning("ClickHouse %s lacks %s", caps.version, gap)
    if cluster is not None:
        _refuse_local_tables(client, db)
    for statement in bookkeeping(Ddl(db, cluster)):
        client.query(statement)
    done = applied_versions(client, db)
    ctx = Context(db, caps, retention, cluster=cluster)
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        columns = client.query(
            f"SELECT table, name FROM system.columns WHERE database = '{db}'"  # noqa: S608
        )
        present = frozenset((str(t), str(c)) for t, c in columns)
        now = Context(db, caps, retention, present, cluster)
        for statement in migration.statements(now):
            client.query(statement)
        client.insert(
            f"{db}.schema_migrations",
            ["version", "name", "applied_ms"],
            [(migration.version, migration.name, int(time.time() * 1000))],
        )
        log.info("applied ClickHouse migration %d: %s", migration.version, migration.name)
    ensure_views(client, db, cluster)
    ensure_ttl(client, ctx)
    repair_rollups(client, db)
    return caps
