"""One small client over both ClickHouse backends: embedded chDB (the default, a file-backed
database under the data directory) and a ClickHouse server over the native protocol.

Both answer the same three calls, so the sink and its tests run unchanged on either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlparse

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

    def close(self) -> None: ...


def _literal(value: str | int) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class EmbeddedClickHouse:
    """chDB: ClickHouse in-process, stored under ``path``."""

    backend = "chdb"

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        make_session: Any = session.Session  # chdb ships no annotations for Session
        self._session: Any = make_session(str(path))

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

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        if not rows:
            return
        body = "\n".join(json.dumps(dict(zip(columns, row, strict=True))) for row in rows)
        cols = ", ".join(columns)
        extra = ""
        if settings:
            extra = " SETTINGS " + ", ".join(f"{k} = {_literal(v)}" for k, v in settings.items())
        self._session.query(f"INSERT INTO {table} ({cols}){extra} FORMAT JSONEachRow\n{body}")

    def close(self) -> None:
        self._session.close()


class ServerClickHouse:
    """A ClickHouse server over the native protocol (clickhouse-driver)."""

    backend = "server"

    def __init__(self, url: str) -> None:
        from clickhouse_driver import Client

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

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._client.execute(sql)]

    def query_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        rows, types = self._client.execute(sql, with_column_types=True)
        return [name for name, _ in types], [tuple(row) for row in rows]

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        settings: Mapping[str, str | int] | None = None,
    ) -> None:
        if rows:
            self._client.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES",
                list(rows),
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
