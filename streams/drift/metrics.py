"""Prometheus metrics of the drift stream (module level, one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

STATISTIC = Gauge(
    "vigil_drift_statistic",
    "Latest value of a drift statistic (PSI, JS, KS, ...) per camera, model and feature",
    ["camera", "model_version", "feature", "statistic"],
)
ALARMS = Counter("vigil_drift_alarms_total", "Drift alarms raised", ["camera", "feature"])
WINDOWS = Counter("vigil_drift_windows_total", "Windows closed", ["camera"])
EVENTS = Counter("vigil_drift_events_total", "DetectionEvents folded into windows")
LATE = Counter(
    "vigil_drift_late_events_total", "Events later than the allowed lateness", ["camera"]
)
MISSING_STATS = Counter(
    "vigil_drift_missing_image_stats_total",
    "Events without usable image statistics (image features skipped)",
    ["camera"],
)
DEAD_LETTERED = Counter("vigil_drift_dead_lettered_total", "Undecodable events sent to the DLQ")
