"""Chart series from ClickHouse: detections per label (the per-minute rollup), alerts per rule,
drift statistics with their alarms, and accuracy against labels per model version and day.
The SQL runs unchanged on chDB 26.x and ClickHouse server 18.16.

chDB is one process per database directory: while ``vigil sink clickhouse`` (or any other
process) holds ``<data_dir>/chdb``, the dashboard cannot read it and says so (503). The
dashboard therefore opens chDB per request and closes it at once, so it never keeps the sink
out; for a dashboard beside a running sink, use a ClickHouse server (``clickhouse.url``)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from dashboards.web.settings import DashboardProcessSettings
from vigil.clickhouse import ClickHouseClient, EmbeddedClickHouse, ServerClickHouse
from vigil.errors import VigilError
from vigil.topics import Topic

CAMERA = re.compile(r"^[A-Za-z0-9._:-]{0,128}$")
CHARTS = ("detections", "alerts", "drift", "accuracy")
MAX_SERIES = 8
ACCURACY_DAYS = 90  # the accuracy chart is daily: it shows at least this many days
ACCURACY_METRICS = (("map50", "mAP@0.5"), ("recall", "recall"))


class ChartsUnavailable(VigilError, RuntimeError):
    """ClickHouse cannot be read now; the message says why and what to do."""


def _bucket_s(minutes: int) -> int:
    return 10 if minutes <= 30 else 60 if minutes <= 360 else 600


# Identifiers and values put into SQL here are the database name (settings pattern), a camera id
# checked against CAMERA and integers, hence the S608 exemptions.
def chart_sql(
    name: str, db: str, camera: str, minutes: int, now_s: int, production_topic: str = ""
) -> str:
    """The query of a chart: rows of (series, unix seconds, value, alarm, threshold)."""
    if name not in CHARTS:
        raise ValueError(f"unknown chart {name!r}; known: {', '.join(CHARTS)}")
    if not CAMERA.match(camera):
        raise ValueError("camera id: 1-128 of A-Z a-z 0-9 . _ : -")
    if not CAMERA.match(production_topic):
        raise ValueError("production topic: 1-128 of A-Z a-z 0-9 . _ : -")
    since_s = now_s - minutes * 60
    if name == "accuracy":
        return _accuracy_sql(db, camera, max(since_s, 0), now_s, production_topic)
    b = _bucket_s(minutes)
    if name == "detections":
        where = f" AND camera_id = '{camera}'" if camera else ""
        return (
            "SELECT label, toUInt32(toUnixTimestamp(minute)) AS t, "  # noqa: S608
            "toFloat64(countMerge(detections)) AS v, toUInt8(0), toFloat64(0) "
            f"FROM {db}.detections_per_minute WHERE minute >= toDateTime({since_s}){where} "
            "GROUP BY label, t ORDER BY t, label"
        )
    if name == "alerts":
        where = f" AND camera_id = '{camera}'" if camera else ""
        return (
            f"SELECT rule_id, toUInt32(intDiv(intDiv(alert_ts_ms, 1000), {b}) * {b}) AS t, "  # noqa: S608
            "toFloat64(count()) AS v, toUInt8(0), toFloat64(0) "
            f"FROM {db}.alerts WHERE alert_ts_ms >= {since_s * 1000}{where} "
            "GROUP BY rule_id, t ORDER BY t, rule_id"
        )
    series = (
        "concat(feature, ' ', statistic)"
        if camera
        else ("concat(camera_id, ' ', feature, ' ', statistic)")
    )
    where = f" AND camera_id = '{camera}'" if camera else ""
    return (
        f"SELECT {series} AS s, toUInt32(intDiv(window_start_ms, 1000)) AS t, "  # noqa: S608
        "max(value) AS v, max(alarm), max(threshold) "
        f"FROM {db}.drift WHERE window_start_ms >= {since_s * 1000}{where} "
        "GROUP BY s, t ORDER BY t, s"
    )


def _accuracy_sql(db: str, camera: str, since_s: int, now_s: int, production_topic: str) -> str:
    """One series per model version and metric: the camera's days, or all cameras pooled
    (camera ``*``, evaluation/accuracy.py); replays (other topics) and other datasets are
    named so."""
    first_day = min(since_s, now_s - ACCURACY_DAYS * 86_400) // 86_400
    day_s = "(toRelativeDayNum(day) - toRelativeDayNum(toDate('1970-01-01'))) * 86400"
    name = (
        "concat(model_name, '@', model_version, "
        "if(dataset = 'default', '', concat(' ', dataset)), "
        f"if(kafka_topic = '{production_topic}', '', ' (replay)'), ' ', "
    )
    parts = [
        f"SELECT {name}'{title}') AS s, toUInt32({day_s}) AS t, "  # noqa: S608
        f"toFloat64(assumeNotNull({metric})) AS v, toUInt8(0), toFloat64(0) "
        f"FROM {db}.accuracy FINAL WHERE camera_id = '{camera or '*'}' "
        f"AND isNotNull({metric}) AND {day_s} >= {first_day * 86_400}"
        for metric, title in ACCURACY_METRICS
    ]
    return "SELECT * FROM (" + " UNION ALL ".join(parts) + ") ORDER BY t, s"  # noqa: S608


def to_series(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    series: dict[str, list[list[float]]] = {}
    alarms = []
    thresholds: dict[str, float] = {}
    for name, t, value, alarm, threshold in rows:
        series.setdefault(str(name), []).append([int(t), float(value)])
        if int(alarm):
            alarms.append({"series": str(name), "t": int(t), "value": float(value)})
        if float(threshold):
            thresholds[str(name)] = float(threshold)
    # a readable chart: the series that alarmed first, then the highest peaks
    alarmed = {a["series"] for a in alarms}
    ranked = sorted(
        series, key=lambda k: (k in alarmed, max(v for _t, v in series[k])), reverse=True
    )
    shown = set(ranked[:MAX_SERIES])
    return {
        "series": [{"name": k, "points": v} for k, v in series.items() if k in shown],
        "alarms": [a for a in alarms if a["series"] in shown],
        "thresholds": {k: v for k, v in thresholds.items() if k in shown},
        "hidden": len(series) - len(shown),
    }


class ChartReader:
    """One reader per app; requests take turns (neither chDB nor clickhouse-driver's client
    is for concurrent use)."""

    def __init__(self, settings: DashboardProcessSettings) -> None:
        self.settings = settings
        self.db = settings.clickhouse.database
        self._lock = threading.Lock()
        self._server: ClickHouseClient | None = None

    @property
    def backend(self) -> str:
        return "server" if self.settings.clickhouse.url else "chdb"

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.settings.clickhouse.url:
            if self._server is None:
                self._server = ServerClickHouse(self.settings.clickhouse.url)
            return self._server.query(sql)
        path = self.settings.data_dir / "chdb"
        try:
            client = EmbeddedClickHouse(path)
        except Exception as exc:
            raise ChartsUnavailable(
                f"embedded ClickHouse (chDB) at {path} is in use by another process (e.g. "
                "`vigil sink clickhouse`); chDB allows one process per directory. Use a "
                f"ClickHouse server (clickhouse.url) for a dashboard beside the sink. ({exc})"
            ) from None
        try:
            return client.query(sql)
        finally:
            client.close()

    def chart(self, name: str, camera: str = "", minutes: int = 60) -> dict[str, Any]:
        production = Topic.DETECTIONS.name_in(self.settings.topics)
        sql = chart_sql(name, self.db, camera, minutes, int(time.time()), production)
        return {
            "chart": name,
            "camera": camera,
            "minutes": minutes,
            "backend": self.backend,
            **to_series(self.rows(sql)),
        }

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """``sql``'s rows; ``ChartsUnavailable`` saying what to do when ClickHouse cannot
        answer (tables not made yet, chDB held by another process, server down)."""
        with self._lock:
            try:
                rows = self._query(sql)
            except ChartsUnavailable:
                raise
            except Exception as exc:
                if self.settings.clickhouse.url and self._server is not None:
                    self._server.close()
                    self._server = None
                text = str(exc)
                missing = (
                    "UNKNOWN_TABLE",
                    "UNKNOWN_DATABASE",
                    "doesn't exist",
                    "Code: 60",
                    "Code: 81",
                )
                if any(m in text for m in missing):
                    raise ChartsUnavailable(
                        f"no {self.db} tables yet: run `vigil sink clickhouse` once"
                    ) from None
                raise ChartsUnavailable(f"ClickHouse query failed: {text[:300]}") from None
        return rows
