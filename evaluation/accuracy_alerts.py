"""An accuracy drop as an alert on vigil.alerts, like a drift alarm (streams/drift/engine.py):
rule ``accuracy:<metric>``, severity MEDIUM, for the latest day of a model version on a camera
whose metric is below its minimum (the ``accuracy`` settings).

Each alert has a deterministic id (metric, dataset, camera, model version, day), raised once:
``<db>.accuracy_alerts`` records every alert whose delivery Kafka acknowledged, and ids already
there are not raised again, so re-running ``vigil accuracy`` stays quiet. A crash between the
acknowledgement and the record raises that alert once more on the next run, with the same id
(at-least-once, as alert delivery is: consumers de-duplicate by id)."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

from connectors.sinks.clickhouse.accuracy_tables import ACCURACY_ALERT_COLUMNS
from evaluation.accuracy import ALL_CAMERAS, Accuracy, latest_days
from evaluation.settings import AccuracySettings
from vigil.clickhouse import ClickHouseClient
from vigil.notices import publish_alerts, system_alert
from vigil.settings import CoreSettings

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Breach:
    row: Accuracy
    metric: str
    value: float
    threshold: float

    @property
    def alert_id(self) -> str:
        r = self.row
        return f"accuracy:{self.metric}:{r.dataset}:{r.camera_id}:{r.model}:{r.day.isoformat()}"

    @property
    def rule_id(self) -> str:
        return f"accuracy:{self.metric}"


def breaches(
    rows: Sequence[Accuracy], cfg: AccuracySettings, topics: Collection[str] | None
) -> list[Breach]:
    """The metrics below their minimum on each camera's latest day with ``min_frames``
    (on ``topics`` only, unless None)."""
    found = []
    minimums = cfg.minimums()
    for row in latest_days(rows, cfg.min_frames):
        if row.camera_id == ALL_CAMERAS or (topics is not None and row.kafka_topic not in topics):
            continue
        for metric, threshold in minimums.items():
            value = row.metric(metric)
            if value is not None and value < threshold:
                found.append(Breach(row, metric, value, threshold))
    return found


def alert_of(b: Breach, now_ms: int) -> dict[str, Any]:
    """The Alert record (schemas/avro/alert.avsc) of a breach."""
    r = b.row
    day_start = int(datetime.combine(r.day, dtime(0), tzinfo=UTC).timestamp() * 1000)
    return system_alert(
        b.rule_id,
        b.alert_id,
        b.metric,
        score=b.value,
        camera_id=r.camera_id,
        capture_ts_ms=min(day_start + DAY_MS - 1, now_ms),
        now_ms=now_ms,
        details={
            "metric": b.metric,
            "value": f"{b.value:.4f}",
            "threshold": f"{b.threshold:.4f}",
            "dataset": r.dataset,
            "day": r.day.isoformat(),
            "model_name": r.model_name,
            "model_version": r.model_version,
            "kafka_topic": r.kafka_topic,
            "frames": str(r.frames),
            "objects": str(r.objects),
        },
    )


def raised_ids(client: ClickHouseClient, db: str) -> set[str]:
    return {str(r[0]) for r in client.query(f"SELECT alert_id FROM {db}.accuracy_alerts")}  # noqa: S608


def raise_alerts(
    settings: CoreSettings,
    client: ClickHouseClient,
    found: Sequence[Breach],
    now_ms: int | None = None,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """Produce the alerts of ``found`` not raised before; the alerts produced."""
    db = settings.clickhouse.database
    at = int(time.time() * 1000) if now_ms is None else now_ms
    done = raised_ids(client, db)
    new = [b for b in found if b.alert_id not in done]
    if not new:
        return []
    alerts = [alert_of(b, at) for b in new]
    publish_alerts(settings, alerts, timeout_s)  # raises AlertNotDelivered: nothing recorded
    client.insert(
        f"{db}.accuracy_alerts",
        [n for n, _ in ACCURACY_ALERT_COLUMNS],
        [
            (b.alert_id, b.rule_id, b.row.camera_id, b.row.model_name, b.row.model_version,
             b.row.day, float(b.value), float(b.threshold), at)
            for b in new
        ],
    )  # fmt: skip
    return alerts
