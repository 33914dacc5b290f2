"""Prometheus metrics of the dataset copier (module level, one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter

from vigil.runtime.metrics import ConsumerMetrics

CONSUMER = ConsumerMetrics.named("vigil_dataset_copier")
COPIED = Counter("vigil_dataset_copied_total", "Chosen frames copied into the dataset store")
MERGED = Counter("vigil_dataset_merged_total", "Samples seen again with new reasons (merged)")
DUPLICATES = Counter("vigil_dataset_duplicates_total", "Samples already in the store (skipped)")
MISSED = Counter(
    "vigil_dataset_missed_total",
    "Chosen frames that could not be copied (recorded with the reason)",
    ["reason"],
)
PRIVACY = Counter(
    "vigil_dataset_privacy_total",
    "Copied frames by what was done to faces (unblurred | faces-blurred | faces-detected-now "
    "| blurred-whole)",
    ["privacy"],
)
DEAD_LETTERED = Counter("vigil_dataset_dead_lettered_total", "Undecodable samples sent to the DLQ")
