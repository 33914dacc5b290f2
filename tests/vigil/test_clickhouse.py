"""The same statements on both ClickHouse backends: embedded chDB and the server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigil.clickhouse import ClickHouseClient, connect
from vigil.stack import ClickHouseServer
from vigil_app.settings import ClickHouseSettings, VigilSettings


@pytest.fixture(params=["chdb", "server"])
def clickhouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClickHouseClient]:
    url = ""
    if request.param == "server":
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
        url = server.url
    client = connect(VigilSettings(clickhouse=ClickHouseSettings(url=url), data_dir=tmp_path))
    assert client.backend == request.param
    yield client
    client.close()


def test_create_insert_query(clickhouse: ClickHouseClient) -> None:
    table = f"t_{uuid.uuid4().hex[:8]}"
    clickhouse.query(
        f"CREATE TABLE {table} (camera String, seq UInt64, score Float64, label String) "
        "ENGINE = MergeTree ORDER BY (camera, seq)"
    )
    rows = [("cam-1", i, i / 4, 'he said "hi"\n') for i in range(1000)]
    clickhouse.insert(table, ["camera", "seq", "score", "label"], rows)
    clickhouse.insert(table, ["camera", "seq", "score", "label"], [])
    assert clickhouse.query(f"SELECT count(), sum(seq), max(score) FROM {table}") == [
        (1000, 499500, 249.75)
    ]
    assert clickhouse.query(f"SELECT label FROM {table} WHERE seq = 3") == [('he said "hi"\n',)]
    assert clickhouse.query(f"SELECT seq FROM {table} ORDER BY seq DESC LIMIT 2") == [
        (999,),
        (998,),
    ]
    clickhouse.query(f"DROP TABLE {table}")


def test_columnar_insert_types_nulls_and_errors(clickhouse: ClickHouseClient) -> None:
    """Columns reach their ClickHouse types (bools into UInt8, None into Nullable, unicode);
    a value a column cannot hold, or a column the table lacks, is an error, never a wrap."""
    table = f"t_{uuid.uuid4().hex[:8]}"
    clickhouse.query(
        f"CREATE TABLE {table} (k UInt32, flag UInt8, track Nullable(Int64), "
        "score Float32, who Nullable(String)) ENGINE = MergeTree ORDER BY k"
    )
    names = ["k", "flag", "track", "score", "who"]
    clickhouse.insert_columns(
        table,
        names,
        [[1, 2, 3], [True, False, True], [None, 7, None], [0.5, 0.25, 2.0], ["Zürich", None, ""]],
    )
    assert clickhouse.query(f"SELECT * FROM {table} ORDER BY k") == [
        (1, 1, None, 0.5, "Zürich"),
        (2, 0, 7, 0.25, None),
        (3, 1, None, 2.0, ""),
    ]
    clickhouse.insert_columns(table, names, [[], [], [], [], []])  # nothing: no INSERT
    with pytest.raises(ValueError, match="5 columns named, 2 given"):
        clickhouse.insert_columns(table, names, [[4], [1]])
    # each backend raises its own error class: pyarrow's / clickhouse-driver's, chDB's
    with pytest.raises(Exception, match=r"not in range|requires 0 <= number <= 255"):
        clickhouse.insert_columns(table, ["k", "flag"], [[5], [300]])
    with pytest.raises(Exception, match="No such column nope"):
        clickhouse.insert_columns(table, ["k", "nope"], [[6], [1]])
    assert clickhouse.query(f"SELECT count() FROM {table}") == [(3,)]
    clickhouse.query(f"DROP TABLE {table}")


def test_embedded_data_survives_reopening(tmp_path: Path) -> None:
    settings = VigilSettings(data_dir=tmp_path)
    first = connect(settings)
    first.query("CREATE TABLE kept (a UInt32) ENGINE = MergeTree ORDER BY a")
    first.insert("kept", ["a"], [(1,), (2,)])
    first.close()
    second = connect(settings)
    assert second.query("SELECT sum(a) FROM kept") == [(3,)]
    second.close()


def test_server_url_options_carry_tls_and_timeouts() -> None:
    from vigil.clickhouse import url_options

    assert url_options("ca_certs=/etc/ca.pem&verify=false&send_receive_timeout=30") == {
        "connect_timeout": 5.0,
        "send_receive_timeout": 30.0,
        "ca_certs": "/etc/ca.pem",
        "verify": False,
    }
    with pytest.raises(ValueError, match="unknown ClickHouse URL option 'sslmode'"):
        url_options("sslmode=require")
