"""Erasing a person from the analytics: their POI id (and similarity) cleared from every alert
row, by a mutation that runs on the server and on chDB alike (``ALTER TABLE ... UPDATE``). The
row itself stays (an alert happened), its offsets too, so the sink's exactly-once resume is
unaffected. Mutations are asynchronous on older servers (18.16 has no ``mutations_sync``), so
completion is waited for by asking until no row names the person."""

from __future__ import annotations

import time

from vigil.clickhouse import ClickHouseClient

# The database name is a settings pattern (^[A-Za-z_][A-Za-z0-9_]*$), the person id is quoted:
# hence the S608 exemptions.


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def alerts_table_exists(client: ClickHouseClient, db: str) -> bool:
    rows = client.query(
        f"SELECT count() FROM system.tables WHERE database = {_quoted(db)} AND name = 'alerts'"  # noqa: S608
    )
    return bool(rows) and int(rows[0][0]) > 0


def count_poi(client: ClickHouseClient, db: str, person_id: str) -> int:
    rows = client.query(f"SELECT count() FROM {db}.alerts WHERE poi_id = {_quoted(person_id)}")  # noqa: S608
    return int(rows[0][0])


def erase_poi(
    client: ClickHouseClient, db: str, person_id: str, timeout_s: float = 60.0
) -> int | None:
    """Clear ``person_id`` from ``<db>.alerts``; how many rows named them (None: no table yet).
    Raises ``TimeoutError`` if the mutation has not finished within ``timeout_s``."""
    if not alerts_table_exists(client, db):
        return None
    found = count_poi(client, db, person_id)
    if found == 0:
        return 0
    client.query(
        f"ALTER TABLE {db}.alerts UPDATE poi_id = NULL, poi_similarity = NULL "
        f"WHERE poi_id = {_quoted(person_id)}"
    )
    deadline = time.monotonic() + timeout_s
    while count_poi(client, db, person_id) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{db}.alerts: the erasure mutation did not finish in {timeout_s}s")
        time.sleep(0.2)
    return found
