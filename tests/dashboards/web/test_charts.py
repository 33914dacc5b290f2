"""The dashboard's charts read the same ClickHouse tables on chDB and on the server (18.16)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboards.web.charts import ChartReader, ChartsUnavailable, chart_sql
from tests.dashboards.web.helpers import fill_clickhouse
from vigil_app.settings import ClickHouseSettings, VigilSettings


def test_charts_have_points_on_both_backends(ch_settings: VigilSettings) -> None:
    objects = fill_clickhouse(ch_settings, camera="gate", minutes=5)
    assert objects == 10  # two objects per sample detection event
    reader = ChartReader(ch_settings)

    det = reader.chart("detections", camera="gate", minutes=60)
    by_label = {s["name"]: sum(v for _t, v in s["points"]) for s in det["series"]}
    assert by_label == {"person": 5, "car": 5}

    alerts = reader.chart("alerts", camera="", minutes=60)
    assert [s["name"] for s in alerts["series"]] == ["lobby-after-hours"]
    assert sum(v for _t, v in alerts["series"][0]["points"]) == 5

    drift = reader.chart("drift", camera="gate", minutes=60)
    (series,) = drift["series"]
    assert series["name"] == "brightness PSI"
    assert [round(v, 2) for _t, v in series["points"]] == [0.05, 0.1, 0.15, 0.2, 0.25]
    assert [round(a["value"], 2) for a in drift["alarms"]] == [0.25]
    assert drift["thresholds"] == {"brightness PSI": 0.2}
    # another camera, or a range before the data: nothing
    assert reader.chart("detections", camera="elsewhere", minutes=60)["series"] == []


def test_missing_tables_say_what_to_do(ch_settings: VigilSettings) -> None:
    with pytest.raises(ChartsUnavailable, match="vigil sink clickhouse"):
        ChartReader(ch_settings).chart("alerts")


def test_chdb_held_by_another_process_is_a_clear_error(settings: VigilSettings) -> None:
    """chDB is one process per directory: while another process (the sink) holds it, the
    dashboard says so instead of hanging, and reads again once it is free."""
    ch = settings.model_copy(update={"clickhouse": ClickHouseSettings(database="vigil")})
    fill_clickhouse(ch, minutes=1)
    path = settings.data_dir / "chdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(ChartsUnavailable, match="in use by another process"):
            ChartReader(ch).chart("detections")
    finally:
        holder.kill()
        holder.wait(30)
    assert ChartReader(ch).chart("detections")["series"]


HOLD = """
import sys, time
from chdb import session
s = session.Session(sys.argv[1])
s.query("SELECT 1")
print("holding", flush=True)
time.sleep(120)
"""


def test_chart_sql_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="camera id"):
        chart_sql("alerts", "vigil", "x' OR 1=1 --", 60, 0)
    with pytest.raises(ValueError, match="unknown chart"):
        chart_sql("users", "vigil", "", 60, 0)
