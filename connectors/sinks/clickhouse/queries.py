"""The named queries users ask (``vigil sql --query NAME``): one ``.sql`` file each under
``dashboards/clickhouse/``, ``{db}`` standing for the configured database. Each also becomes a
view ``<db>.q_<name>`` (migration 3), so dashboards can select from it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from connectors.sinks.clickhouse.ddl import Ddl

QUERY_DIR = Path(str(files("dashboards") / "clickhouse"))


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    template: str

    def sql(self, db: str) -> str:
        return self.template.replace("{db}", db)


def named_queries(directory: Path = QUERY_DIR) -> dict[str, NamedQuery]:
    """Every named query, by name (the file's stem)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"named queries not found in {directory}: reinstall Vigil")
    found = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text()
        comments = [ln[2:].strip() for ln in text.splitlines() if ln.startswith("--")]
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("--")).strip()
        found[path.stem] = NamedQuery(path.stem, " ".join(comments), body.rstrip(";"))
    return found


def named_query(name: str) -> NamedQuery:
    queries = named_queries()
    if name not in queries:
        raise KeyError(f"no named query {name!r}; known: {', '.join(sorted(queries))}")
    return queries[name]


def view_statements(ddl: Ddl) -> list[str]:
    """``CREATE VIEW q_<name>`` for every named query (ON CLUSTER on a cluster)."""
    queries = named_queries().values()
    return [f"{ddl.create_view(f'q_{q.name}')} AS {q.sql(ddl.db)}" for q in queries]
