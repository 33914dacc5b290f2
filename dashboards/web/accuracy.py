"""``vigil_model_accuracy``: the latest day's precision, recall and mAP@0.5 of every model
version per camera (``*``: all cameras pooled), as ``vigil accuracy`` stored them in
``<db>.accuracy``, exported by the dashboard's process.

A collector rather than a Gauge: the values live in ClickHouse, so a scrape reads them (at most
once per ``dashboard.accuracy_refresh_s``, cached in between) and a model version no longer
there disappears instead of lingering. When ClickHouse cannot answer (chDB held by the sink, no
tables yet) the last values read are kept and the failure is logged once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from dashboards.web.charts import ChartReader, ChartsUnavailable

log = logging.getLogger(__name__)

NAME = "vigil_model_accuracy"
HELP = "Latest day's accuracy against labels (vigil accuracy) per model version and camera"
LABELS = ("dataset", "model", "version", "topic", "camera", "metric")
METRICS = ("map50", "precision", "recall")
COLUMNS = "dataset, model_name, model_version, kafka_topic, camera_id, day, frames"


def latest_sql(db: str) -> str:
    return (
        f"SELECT {COLUMNS}, {', '.join(METRICS)} FROM {db}.accuracy FINAL "  # noqa: S608
        "WHERE frames > 0"
    )


def latest_values(rows: list[tuple[Any, ...]]) -> dict[tuple[str, ...], float]:
    """Label values -> value, of each (dataset, model, version, topic, camera)'s latest day."""
    newest: dict[tuple[str, ...], tuple[str, tuple[Any, ...]]] = {}
    for row in rows:
        key = tuple(str(v) for v in row[:5])
        day = str(row[5])
        if key not in newest or newest[key][0] < day:
            newest[key] = (day, row[7:])
    values = {}
    for key, (_day, figures) in newest.items():
        for metric, value in zip(METRICS, figures, strict=True):
            if value is not None:
                values[(*key, metric)] = float(value)
    return values


class AccuracyCollector(Collector):
    """Registered once per process; the dashboard attaches its chart reader."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reader: ChartReader | None = None
        self._refresh_s = 60.0
        self._values: dict[tuple[str, ...], float] = {}
        self._read_at = float("-inf")
        self._failing = False

    def attach(self, reader: ChartReader | None, refresh_s: float = 60.0) -> None:
        with self._lock:
            self._reader, self._refresh_s = reader, refresh_s
            self._values, self._read_at = {}, float("-inf")

    def values(self) -> dict[tuple[str, ...], float]:
        """The cached values, read again when older than the refresh interval."""
        with self._lock:
            reader = self._reader
            if reader is None:
                return {}
            if time.monotonic() - self._read_at < self._refresh_s:
                return dict(self._values)
            self._read_at = time.monotonic()
            try:
                self._values = latest_values(reader.rows(latest_sql(reader.db)))
                self._failing = False
            except ChartsUnavailable as exc:
                if not self._failing:
                    log.warning("%s not refreshed (last values kept): %s", NAME, exc)
                self._failing = True
            return dict(self._values)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(NAME, HELP, labels=LABELS)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, HELP, labels=LABELS)
        for labels, value in sorted(self.values().items()):
            family.add_metric(list(labels), value)
        yield family


MODEL_ACCURACY = AccuracyCollector()
REGISTRY.register(MODEL_ACCURACY)
