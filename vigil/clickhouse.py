"""One small client over both ClickHouse backends: embedded chDB (the default, a file-backed
database under the data directory) and a ClickHouse server over the native protocol.

Both answer the same calls, so the sink and its tests run unchanged on either. Inserts are
columnar on both: an Arrow stream into chDB (``send_insert``), ``columnar=True`` blocks over the
native protocol; row-wise JSON into chDB cost three times as much per row (``bench.sink``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlparse

import pyarrow as pa
from chdb import session
from clickhouse_driver import Client

from vigil.settings import CoreSettings


class ClickHouseClient(Protocol):
    backend: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a statement; the result rows (empty for DDL and inserts)."""

    def query_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a query; its column names and rows."""

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        """Insert ``rows`` in one INSERT (one block, so it is atomic and deduplicable);
        ``settings`` are per-INSERT query settings (e.g. ``insert_deduplication_token``)."""

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        """As :meth:`insert`, with the values given per column (``data[i]`` is column i)."""

    def close(self) -> None: ...


class _RowsAsColumns:
    """``insert`` by rows on top of the client's own ``insert_columns`` (both backends take
    columns: Arrow for chDB, columnar blocks for the server)."""

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        raise NotImplementedError

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        if rows:
            self.insert_columns(table, columns, list(zip(*rows, strict=True)), settings)


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _settings_clause(settings: Mapping[str, str | int] | None) -> str:
    if not settings:
        return ""
    return " SETTINGS " + ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())


# ClickHouse type -> the Arrow type chDB reads it from (Nullable(T): T with nulls)
_ARROW_TYPES: dict[str, pa.DataType] = {
    "String": pa.string(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
}


def arrow_type(clickhouse_type: str) -> pa.DataType | None:
    """The Arrow type of a column, None where Arrow's own inference must do."""
    inner = clickhouse_type
    if inner.startswith("Nullable(") and inner.endswith(")"):
        inner = inner[len("Nullable(") : -1]
    if inner.startswith("Array(") and inner.endswith(")"):  # typed, so [] is not list<null>
        item = arrow_type(inner[len("Array(") : -1])
        return None if item is None else pa.list_(item)
    if inner == "Date":
        return pa.date32()
    return _ARROW_TYPES.get(inner)


def arrow_column(values: Sequence[Any], kind: pa.DataType | None) -> pa.Array:
    """``values`` as an Arrow array of ``kind``; bools into integers and the like go through
    a checked cast (an out-of-range value is an error, never a wrapped number)."""
    if kind is None:
        return pa.array(values)
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values).cast(kind)


class EmbeddedClickHouse(_RowsAsColumns):
    """chDB: ClickHouse in-process, stored under ``path``."""

    backend = "chdb"

    def __init__(self, path: Path) -> None:

        path.mkdir(parents=True, exist_ok=True)
        make_session: Any = session.Session  # chdb ships no annotations for Session
        self._session: Any = make_session(str(path))
        self._types: dict[str, dict[str, str]] = {}  # table -> column -> ClickHouse type

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        result = self._session.query(sql, "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]

    def query_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        result = self._session.query(sql, "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        if not text.strip():
            return [], []
        doc = json.loads(text)
        return [m["name"] for m in doc["meta"]], [tuple(row) for row in doc["data"]]

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        if len(data) != len(columns):
            raise ValueError(f"{len(columns)} columns named, {len(data)} given")
        if not data or not len(data[0]):
            return
        types = self._column_types(table, columns)
        batch = pa.RecordBatch.from_arrays(
            [
                arrow_column(values, types.get(name))
                for name, values in zip(columns, data, strict=True)
            ],
            names=list(columns),
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as stream:
            stream.write_batch(batch)
        sql = f"INSERT INTO {table} ({', '.join(columns)}){_settings_clause(settings)}"
        with self._session.send_insert(sql, "ArrowStream") as inserter:
            inserter.append(sink.getvalue().to_pybytes())
            inserter.finish()

    def insert_formatted(self, sql: str, fmt: str, data: bytes) -> None:
        """``sql`` (an INSERT without FORMAT) fed ``data`` in ClickHouse input format ``fmt``
        (e.g. an Avro container decoded by ClickHouse itself)."""
        with self._session.send_insert(sql, fmt) as inserter:
            inserter.append(data)
            inserter.finish()

    def _column_types(self, table: str, columns: Sequence[str]) -> dict[str, pa.DataType | None]:
        """Arrow types of ``columns``, from the table's description (read again when a column
        is new to it, e.g. after a migration)."""
        known = self._types.get(table)
        if known is None or any(c not in known for c in columns):
            known = {str(row[0]): str(row[1]) for row in self.query(f"DESCRIBE TABLE {table}")}
            self._types[table] = known
        return {c: arrow_type(known[c]) if c in known else None for c in columns}

    def close(self) -> None:
        self._session.close()


class ServerClickHouse(_RowsAsColumns):
    """A ClickHouse server over the native protocol (clickhouse-driver)."""

    backend = "server"

    def __init__(self, url: str) -> None:

        parsed = urlparse(url)
        if parsed.scheme not in ("clickhouse", "clickhouses"):
            raise ValueError(f"ClickHouse URL must start with clickhouse://, got {url!r}")
        self._client = Client(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (9440 if parsed.scheme == "clickhouses" else 9000),
            user=unquote(parsed.username or "default"),
            password=unquote(parsed.password or ""),
            database=parsed.path.lstrip("/") or "default",
            secure=parsed.scheme == "clickhouses",
            settings={"use_numpy": False},
            **url_options(parsed.query),
        )

    @property
    def driver(self) -> Client:
        """The clickhouse-driver client underneath (benches compare its insert methods)."""
        return self._client

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._client.execute(sql)]

    def query_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows, types = self._client.execute(sql, with_column_types=True)
        return [name for name, _ in types], [tuple(row) for row in rows]

    def insert_columns(
        self,
        table: str,
        columns: Sequence[str],
        data: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        if len(data) != len(columns):
            raise ValueError(f"{len(columns)} columns named, {len(data)} given")
        if data and len(data[0]):
            self._client.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
                list(data),
                columnar=True,
                settings=dict(settings) if settings else None,
            )

    def close(self) -> None:
        self._client.disconnect()


# TLS and timeout options a URL may carry, e.g.
# clickhouses://sink:secret@ch.example:9440/vigil?ca_certs=/etc/ssl/ch-ca.pem&verify=true
_URL_OPTIONS: dict[str, type] = {
    "verify": bool,
    "ca_certs": str,
    "certfile": str,
    "keyfile": str,
    "server_hostname": str,
    "connect_timeout": float,
    "send_receive_timeout": float,
    "sync_request_timeout": float,
    "compression": str,
    "alt_hosts": str,  # host:port,host:port tried in turn (other replicas of the shard)
}


def url_options(query: str) -> dict[str, Any]:
    """The clickhouse-driver options in a URL's query string; unknown names are an error."""
    options: dict[str, Any] = {"connect_timeout": 5.0, "send_receive_timeout": 60.0}
    for name, raw in parse_qsl(query, keep_blank_values=True):
        kind = _URL_OPTIONS.get(name)
        if kind is None:
            raise ValueError(
                f"unknown ClickHouse URL option {name!r}; known: {sorted(_URL_OPTIONS)}"
            )
        if kind is bool:
            options[name] = raw.lower() in ("1", "true", "yes")
        else:
            options[name] = kind(raw)
    return options


def connect(settings: CoreSettings) -> ClickHouseClient:
    """chDB under ``<data_dir>/chdb`` when no URL is set, else the server at the URL."""
    if not settings.clickhouse.url:
        return EmbeddedClickHouse(settings.data_dir / "chdb")
    return ServerClickHouse(settings.clickhouse.url)
