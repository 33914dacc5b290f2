"""Where the ClickHouse offsets are kept: in the rows themselves. This writer never stores an
offset twice and never leaves a gap.

Invariant, per (table, topic, partition): the offsets stored are a prefix of the partition
(up to the rows a message yields). It holds because

- each INSERT covers, per Kafka partition, the next contiguous offsets (batches are split
  into runs of consecutive messages of the same UTC day, so one INSERT is one block in one
  day partition and therefore atomic), and runs are inserted in order;
- before inserting, rows at or below the table's stored maximum for their partition are
  dropped. Tables are written by separate INSERTs, so after a crash between them each table
  resumes from its own maximum;
- after any failed INSERT the cached maxima of that table are forgotten and read again, so an
  insert that landed although its acknowledgement was lost is not repeated.

On a cluster (replicated tables) the maxima are read only after ``SYSTEM SYNC REPLICA``: a
replica that has not fetched the latest parts yet would say less than the shard holds, and
rows re-sent in a different composition would be a block Keeper has never seen, not a repeat.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator

from prometheus_client import Counter

from connectors.sinks.base import BatchingSink, BatchPolicy, SinkBackpressureError
from connectors.sinks.clickhouse.rows import ALL_TABLES, COLUMNS, Mapped
from vigil import faults
from vigil.clickhouse import ClickHouseClient

log = logging.getLogger(__name__)

ROWS_WRITTEN = Counter("vigil_sink_clickhouse_rows_total", "Rows inserted", ["table"])
ROWS_SKIPPED = Counter(
    "vigil_sink_clickhouse_rows_skipped_total",
    "Rows not inserted because ClickHouse already held their offset (replay after a crash)",
    ["table"],
)
INSERTS = Counter("vigil_sink_clickhouse_inserts_total", "INSERT statements", ["table"])
INSERT_ERRORS = Counter(
    "vigil_sink_clickhouse_insert_errors_total", "Failed INSERTs or offset reads", ["table"]
)

PartitionKey = tuple[str, int]


def runs(batch: list[Mapped]) -> Iterator[list[Mapped]]:
    """Consecutive messages of the same UTC day (messages without rows join any run)."""
    run: list[Mapped] = []
    day: int | None = None
    for item in batch:
        if item.rows and day is not None and item.day != day:
            yield run
            run = []
            day = None
        if item.rows and day is None:
            day = item.day
        run.append(item)
    if run:
        yield run


def token(table: str, items: list[Mapped]) -> str:
    """The same messages give the same token, so a repeated INSERT of them is dropped by
    ClickHouse: ``table|topic:partition:first-last:count;...``, hashed."""
    spans: dict[PartitionKey, list[int]] = {}
    for m in items:
        span = spans.setdefault((m.topic, m.partition), [m.offset, m.offset, 0])
        span[0], span[1], span[2] = min(span[0], m.offset), max(span[1], m.offset), span[2] + 1
    text = (
        table
        + "|"
        + ";".join(f"{t}:{p}:{a}-{b}:{n}" for (t, p), (a, b, n) in sorted(spans.items()))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class ClickHouseWriter(BatchingSink[Mapped]):
    def __init__(
        self,
        client: ClickHouseClient,
        db: str,
        policy: BatchPolicy,
        *,
        replicated: bool = False,
    ) -> None:
        super().__init__(policy)
        self.client = client
        self.db = db
        self.replicated = replicated  # tables are Replicated*MergeTree (clickhouse.cluster)
        self._max: dict[tuple[str, str, int], int] = {}
        self.dedup_tokens = False  # set when the backend has insert_deduplication_token

    # -- the offsets ClickHouse holds -------------------------------------------------------
    def stored_max(self, table: str, keys: Iterable[PartitionKey]) -> dict[PartitionKey, int]:
        """The highest offset ``table`` holds per partition (-1: none); cached until forgotten."""
        wanted = set(keys)
        missing = {k for k in wanted if (table, *k) not in self._max}
        if missing:
            # topic names match [A-Za-z0-9._-]+ (Kafka's rule), the database a settings pattern
            topics = ", ".join(sorted({f"'{t}'" for t, _ in missing}))
            if self.replicated:  # waits until this replica holds what the shard's log names
                self.client.query(f"SYSTEM SYNC REPLICA {self.db}.{table}")
            rows = self.client.query(
                "SELECT kafka_topic, kafka_partition, toInt64(max(kafka_offset)) "  # noqa: S608
                f"FROM {self.db}.{table} WHERE kafka_topic IN ({topics}) "
                "GROUP BY kafka_topic, kafka_partition"
            )
            found = {(str(t), int(p)): int(o) for t, p, o in rows}
            for key in missing:
                self._max[(table, *key)] = found.get(key, -1)
        return {k: self._max[(table, *k)] for k in wanted}

    def resume_offsets(
        self, keys: Iterable[PartitionKey], tables: dict[str, tuple[str, ...]]
    ) -> dict[PartitionKey, int]:
        """Where to resume each partition: past the lowest maximum among the tables its topic
        feeds (each table then skips what it already holds). Re-reads ClickHouse."""
        keys = list(keys)
        self.forget(keys)
        start: dict[PartitionKey, int] = {}
        for table in ALL_TABLES:
            mine = [k for k in keys if table in tables.get(k[0], ())]
            if not mine:
                continue
            for key, top in self.stored_max(table, mine).items():
                start[key] = min(start.get(key, top + 1), top + 1)
        return start

    def forget(self, keys: Iterable[PartitionKey]) -> None:
        for key in keys:
            for table in ALL_TABLES:
                self._max.pop((table, *key), None)

    # -- writing ----------------------------------------------------------------------------
    def write(self, batch: list[Mapped]) -> None:
        for run in runs(batch):
            for table in ALL_TABLES:
                self._write_table(table, run)
        faults.hit("after_insert")

    def _write_table(self, table: str, run: list[Mapped]) -> None:
        items = [m for m in run if table in m.rows]
        if not items:
            return
        keys = {(m.topic, m.partition) for m in items}
        try:
            stored = self.stored_max(table, keys)
        except Exception as exc:
            INSERT_ERRORS.labels(table).inc()
            raise SinkBackpressureError(f"reading offsets of {table}: {exc!r}") from exc
        fresh = [m for m in items if m.offset > stored[(m.topic, m.partition)]]
        skipped = sum(len(m.rows[table]) for m in items) - sum(len(m.rows[table]) for m in fresh)
        if skipped:
            ROWS_SKIPPED.labels(table).inc(skipped)
        if not fresh:
            return
        rows = [row for m in fresh for row in m.rows[table]]
        settings = {"insert_deduplication_token": token(table, fresh)} if self.dedup_tokens else {}
        try:
            self.client.insert(f"{self.db}.{table}", [c for c, _ in COLUMNS[table]], rows, settings)
        except Exception as exc:
            INSERT_ERRORS.labels(table).inc()
            for key in keys:  # it may have landed: read the maxima again before retrying
                self._max.pop((table, *key), None)
            raise SinkBackpressureError(f"inserting into {table}: {exc!r}") from exc
        INSERTS.labels(table).inc()
        ROWS_WRITTEN.labels(table).inc(len(rows))
        for m in fresh:
            slot = (table, m.topic, m.partition)
            self._max[slot] = max(self._max.get(slot, -1), m.offset)
        faults.hit("between_tables")
