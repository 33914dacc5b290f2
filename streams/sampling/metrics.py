"""Prometheus metrics of the sampling app (module level, one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter("vigil_sampling_events_total", "DetectionEvents read", ["source"])
CHOSEN = Counter("vigil_sampling_chosen_total", "Samples published, per reason", ["reason"])
OVER_BUDGET = Counter(
    "vigil_sampling_over_budget_total",
    "Frames worth a sample but past their camera's hourly budget, per reason",
    ["reason"],
)
MERGED = Counter(
    "vigil_sampling_merged_total", "Frames chosen again for a new reason (published once more)"
)
STALE_CANDIDATES = Counter(
    "vigil_sampling_stale_candidates_total",
    "Candidate events older than the horizon (a replay of the past): not compared",
)
ALARMS = Counter("vigil_sampling_drift_alarms_total", "Drift alarms whose windows were sampled")
DEAD_LETTERED = Counter(
    "vigil_sampling_dead_lettered_total", "Undecodable or unusable events sent to the DLQ"
)
