"""The Grafana dashboards load, have unique panel ids and use the provisioned datasources; the
ClickHouse dashboard's SQL runs on chDB against the sink's real tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from connectors.sinks.clickhouse.schema import Retention, migrate
from vigil.clickhouse import EmbeddedClickHouse

ROOT = Path(__file__).resolve().parents[2] / "dashboards" / "grafana"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))


def test_every_dashboard_loads_with_unique_panel_ids() -> None:
    assert {p.stem for p in DASHBOARDS} == {"pipeline", "cameras", "alerts", "clickhouse"}
    uids = set()
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        ids = [panel["id"] for panel in doc["panels"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(isinstance(i, int) and i > 0 for i in ids)
        assert doc["uid"] not in uids
        uids.add(doc["uid"])
        for panel in doc["panels"]:
            assert panel["targets"], (path.name, panel["title"])
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24


def test_panels_use_the_provisioned_datasources() -> None:
    provisioned = yaml.safe_load((ROOT / "provisioning" / "datasources" / "vigil.yml").read_text())
    uids = {ds["uid"]: ds["type"] for ds in provisioned["datasources"]}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            ds = panel["datasource"]
            assert uids.get(ds["uid"]) == ds["type"], (path.name, panel["title"])
    providers = yaml.safe_load((ROOT / "provisioning" / "dashboards" / "vigil.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/vigil"


def test_pipeline_dashboard_covers_health() -> None:
    doc = json.loads((ROOT / "dashboards" / "pipeline.json").read_text())
    exprs = " ".join(t["expr"] for p in doc["panels"] for t in p["targets"])
    for needle in (
        "vigil_worker_frames_total",
        "vigil_worker_batch_size_bucket",
        "vigil_worker_stage_seconds_bucket",
        "vigil_worker_consumer_lag",
        "vigil_worker_dlq_total",
        "process_start_time_seconds",
    ):
        assert needle in exprs


def grafana_to_sql(sql: str) -> str:
    """The plugin's macros and variables, expanded as Grafana would for the last day."""
    sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= now() - INTERVAL 1 DAY AND \1 <= now()", sql)
    return sql.replace("${camera:singlequote}", "'gate'").replace("vigil.", "t_grafana.")


def test_clickhouse_dashboard_sql_runs_on_the_sink_tables(tmp_path: Path) -> None:
    client = EmbeddedClickHouse(tmp_path / "chdb")
    try:
        migrate(client, "t_grafana", Retention())
        doc = json.loads((ROOT / "dashboards" / "clickhouse.json").read_text())
        queries = [t["rawSql"] for p in doc["panels"] for t in p["targets"]]
        queries.append(doc["templating"]["list"][0]["query"])
        assert len(queries) == 7
        for sql in queries:
            client.query(grafana_to_sql(sql))  # raises on an unknown column or table
    finally:
        client.close()
