"""Prometheus metrics of the alerting stream and its delivery."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from vigil.runtime import ConsumerMetrics

ALERTS = Counter("vigil_alerts_total", "Notifications sent to vigil.alerts", ["rule", "severity"])
SUPPRESSED = Counter("vigil_alerts_suppressed_total", "Incidents opened silently in a cooldown")
OPEN_INCIDENTS = Gauge("vigil_alert_open_incidents", "Open incidents of this worker")
POI_MATCHES = Counter("vigil_poi_matches_total", "Face matches at or above the threshold")
NEAR_MISSES = Counter("vigil_poi_near_misses_total", "Face similarities in the near-miss band")
POI_REJECTED = Counter("vigil_poi_quality_rejected_total", "Faces failing the quality gate")
LATENCY = Histogram(
    "vigil_alert_latency_seconds",
    "Detection (inference time) to alert",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEAD_LETTERED = Counter("vigil_alerting_dead_lettered_total", "Undecodable detections to DLQ")
REDELIVERED = Counter(
    "vigil_alerting_redelivered_total", "Detections delivered again that the state already held"
)
RULE_RELOADS = Counter("vigil_alert_rule_reloads_total", "Rules file reloads", ["outcome"])
DELIVERED = Counter("vigil_alert_deliveries_total", "Alerts delivered", ["destination"])
DELIVERY_FAILURES = Counter(
    "vigil_alert_delivery_failures_total", "Delivery attempts that failed", ["destination"]
)
DELIVERY_DEAD_LETTERED = Counter(
    "vigil_alert_delivery_dead_lettered_total",
    "Alerts written to vigil.dlq after their retries ran out (undecodable ones: decode)",
    ["destination"],
)
DELIVERY_IN_FLIGHT = Gauge(
    "vigil_alert_delivery_in_flight", "Alerts being sent now, per lane", ["destination"]
)
DELIVERY_PAUSED = Gauge(
    "vigil_alert_delivery_paused",
    "1 while a lane's partitions are paused because its in-flight bound is reached",
    ["destination"],
)
DELIVERY_PAUSES = Counter(
    "vigil_alert_delivery_pauses_total", "Times a lane paused its partitions", ["destination"]
)
DELIVERY_LANE_RESTARTS = Counter(
    "vigil_alert_delivery_lane_restarts_total",
    "Delivery lanes started again after their thread died",
    ["destination"],
)
# one consumer loop per destination: vigil_alert_delivery_messages_total, _consumer_lag,
# _paused_partitions and _rebalances_total, each with the destination's label
DELIVERY_CONSUMER = ConsumerMetrics.named("vigil_alert_delivery", per=("destination",))
