"""Migrations and rollups on both backends: idempotent start-up, capabilities by version, and
the rollup rebuilt when a view missed a block."""

from __future__ import annotations

from typing import cast

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.rows import COLUMNS, Mapped, detection_rows
from connectors.sinks.clickhouse.schema import (
    MIGRATIONS,
    Capabilities,
    Context,
    Retention,
    _v2_rollups,
    applied_versions,
    ensure_ttl,
    migrate,
    repair_rollups,
)
from connectors.sinks.clickhouse.writer import ClickHouseWriter, token
from schemas.types import DetectionEvent
from tests.connectors.sinks.clickhouse.support import detection_event, now_ms, open_client
from vigil_app.settings import VigilSettings


def _batch(topic: str, first: int, count: int) -> list[Mapped]:
    ts = now_ms()
    return [
        detection_rows(
            cast(DetectionEvent, detection_event(i, f"cam-{i % 3}", i % 4, ts + i)),
            (topic, i % 2, i),
        )
        for i in range(first, first + count)
    ]


def test_migrations_are_versioned_idempotent_and_degrade_by_version(
    sink_settings: VigilSettings,
) -> None:
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    caps = migrate(client, db, Retention())
    again = migrate(client, db, Retention())
    assert caps == again
    assert applied_versions(client, db) == {m.version for m in MIGRATIONS}
    assert client.query(f"SELECT count() FROM {db}.schema_migrations") == [(len(MIGRATIONS),)]
    create = (
        str(
            client.query(
                f"SELECT create_table_query FROM system.tables "
                f"WHERE database = '{db}' AND name = 'detections'"
            )[0][0]
        )
        if caps.ttl
        else ""
    )
    if client.backend == "chdb":
        assert caps.ttl
        assert caps.major >= 24
        assert "TTL" in create
        assert "259200" in create
    else:
        assert (caps.major, caps.minor) == (18, 16)
        assert not caps.ttl
        assert caps.missing()
    client.close()


def test_retention_follows_the_settings(sink_settings: VigilSettings) -> None:
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    caps = migrate(client, db, Retention(72, 395))
    caps = migrate(client, db, Retention(24, 30))  # an operator shortened retention
    ctx = Context(db, caps, Retention(24, 30))
    assert ensure_ttl(client, ctx) == []  # already applied by migrate
    if caps.ttl:
        create = dict(
            client.query(
                f"SELECT name, create_table_query FROM system.tables WHERE database = '{db}'"
            )
        )
        assert "toIntervalSecond(86400)" in create["detections"]
        assert "toIntervalSecond(86400)" in create["alerts"]
        assert "toIntervalSecond(2592000)" in create["frames"]
        assert "toIntervalSecond(2592000)" in create["detections_per_minute"]
    else:  # 18.16: no TTL to change, and nothing pretends otherwise
        for table in ("detections", "frames", "alerts", "drift", "detections_per_minute"):
            (create,) = client.query(f"SHOW CREATE TABLE {db}.{table}")[0]
            assert "TTL" not in str(create)
    client.close()


def test_capabilities_parse_versions() -> None:
    assert Capabilities("18.16.1", 18, 16).ttl is False
    assert Capabilities("19.6.2", 19, 6).ttl is True
    ctx = Context("db", Capabilities("26.9.2.1", 26, 9), Retention(24, 10))
    assert ctx.ttl("t", personal=True) == " TTL t + INTERVAL 86400 SECOND"
    assert ctx.ttl("t", personal=False) == " TTL t + INTERVAL 864000 SECOND"
    old = Context("db", Capabilities("18.16.1", 18, 16), Retention())
    assert old.ttl("t", personal=True) == ""


def test_rollup_rebuilt_when_the_view_missed_a_block(sink_settings: VigilSettings) -> None:
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    caps = migrate(client, db, Retention())
    writer = ClickHouseWriter(client, db, BatchPolicy(100_000, 60))
    for item in _batch("t.detections", 0, 200):
        writer.add(item, item.row_count)
    writer.flush()
    client.query(f"DROP TABLE {db}.detections_per_minute_mv")  # the view misses the next block
    for item in _batch("t.detections", 200, 100):
        writer.add(item, item.row_count)
    writer.flush()
    client.query(_v2_rollups(Context(db, caps, Retention()))[1])

    def totals() -> tuple[int, int]:
        (rolled,) = client.query(f"SELECT countMerge(detections) FROM {db}.detections_per_minute")
        (stored,) = client.query(f"SELECT count() FROM {db}.detections")
        return int(rolled[0]), int(stored[0])

    rolled, stored = totals()
    assert rolled < stored
    assert repair_rollups(client, db) == 2
    assert totals() == (stored, stored)
    assert repair_rollups(client, db) == 0
    client.close()


def test_a_repeated_insert_of_the_same_messages_is_dropped_where_supported(
    sink_settings: VigilSettings,
) -> None:
    """The second line of defence: the writer's INSERT token. A block inserted again (an INSERT
    whose acknowledgement was lost while the server still applied it) is dropped by
    ClickHouse >= 22.2; 18.16 has no tokens and keeps both (README, backend differences)."""
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    caps = migrate(client, db, Retention())
    items = _batch("t.detections", 0, 50)
    assert token("frames", items) == token("frames", list(reversed(items)))
    assert token("frames", items) != token("frames", items[:-1])
    assert token("frames", items) != token("detections", items)
    rows = [r for m in items for r in m.rows["frames"]]
    for _ in range(2):
        client.insert(
            f"{db}.frames",
            [c for c, _ in COLUMNS["frames"]],
            rows,
            {"insert_deduplication_token": token("frames", items)} if caps.dedup_token else None,
        )
    (stored,) = client.query(f"SELECT count() FROM {db}.frames")[0]
    assert int(stored) == (50 if caps.dedup_token else 100)
    assert caps.dedup_token == (client.backend == "chdb")
    client.close()


def test_carried_from_added_to_tables_made_before_it(sink_settings: VigilSettings) -> None:
    """Migration 4 adds ``carried_from`` where it is missing (18.16 has no ADD COLUMN IF NOT
    EXISTS), and rows of carried events keep the frame id they carry."""
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    migrate(client, db, Retention())
    for table in ("frames", "detections"):  # the tables as migrations 1-3 made them
        client.query(f"ALTER TABLE {db}.{table} DROP COLUMN carried_from")
    client.query(f"DROP TABLE {db}.schema_migrations")
    client.query(
        f"CREATE TABLE {db}.schema_migrations "
        "(version UInt32, name String, applied_ms Int64) ENGINE = MergeTree ORDER BY version"
    )
    client.insert(
        f"{db}.schema_migrations", ["version", "name", "applied_ms"], [(1, "", 0), (2, "", 0)]
    )
    client.insert(f"{db}.schema_migrations", ["version", "name", "applied_ms"], [(3, "", 0)])
    migrate(client, db, Retention())
    migrate(client, db, Retention())  # idempotent
    assert applied_versions(client, db) == {m.version for m in MIGRATIONS}
    writer = ClickHouseWriter(client, db, BatchPolicy(100_000, 60))
    for i, item in enumerate(_batch("t.detections", 0, 4)):
        if i % 2:  # a carried event: rows say which frame's detections it repeats
            event = cast(
                DetectionEvent,
                {**detection_event(i, "cam-1", 2, now_ms()), "carried_from": "cam-1-0"},
            )
            item = detection_rows(event, ("t.detections", 0, i))
        writer.add(item, item.row_count)
    writer.flush()
    frames = client.query(
        f"SELECT kafka_offset, carried_from FROM {db}.frames ORDER BY kafka_offset"
    )
    assert [(int(o), c) for o, c in frames] == [
        (0, None),
        (1, "cam-1-0"),
        (2, None),
        (3, "cam-1-0"),
    ]
    carried = client.query(f"SELECT count() FROM {db}.detections WHERE carried_from = 'cam-1-0'")
    assert int(carried[0][0]) == 4
    client.close()


def test_carried_from_migration_only_adds_what_is_missing() -> None:
    caps = Capabilities("18.16.1", 18, 16)
    none = Context("db", caps, Retention())
    assert [s.split(" ADD ")[0] for s in MIGRATIONS[3].statements(none)] == [
        "ALTER TABLE db.frames",
        "ALTER TABLE db.detections",
    ]
    have = Context("db", caps, Retention(), frozenset(COLUMNS_PRESENT))
    assert MIGRATIONS[3].statements(have) == []


COLUMNS_PRESENT = {("frames", "carried_from"), ("detections", "carried_from")}
