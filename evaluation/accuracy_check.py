"""One pass of accuracy over time, what ``vigil accuracy`` and ``vigil dataset import`` run:
score every recorded model on the labels, store the figures, alert on drops."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluation.accuracy import AccuracyRun, accuracy_rows, compute_accuracy, write_accuracy
from evaluation.accuracy_alerts import Breach, breaches, raise_alerts
from evaluation.settings import AccuracyProcessSettings
from vigil.clickhouse import ClickHouseClient
from vigil.topics import Topic


@dataclass(frozen=True)
class AccuracyCheck:
    run: AccuracyRun
    breaches: list[Breach] = field(default_factory=list)  # below a minimum now
    raised: list[dict[str, Any]] = field(default_factory=list)  # of those, new alerts


def check_accuracy(
    settings: AccuracyProcessSettings,
    client: ClickHouseClient,
    dataset: str | None = None,
    now_ms: int | None = None,
) -> AccuracyCheck:
    """Compute and store the dataset's accuracy, then raise the alerts not raised before.

    The check reads the stored figures back, so a day computed earlier (its frames since gone
    from ClickHouse) still counts as the latest when nothing newer was labelled."""
    cfg = settings.accuracy
    db = settings.clickhouse.database
    name = dataset or cfg.dataset
    run = compute_accuracy(client, db, name, cfg.iou, now_ms)
    write_accuracy(client, db, run.rows)
    topics = None if cfg.alert_candidates else {Topic.DETECTIONS.name_in(settings.topics)}
    found = breaches(accuracy_rows(client, db, dataset=name), cfg, topics)
    return AccuracyCheck(run, found, raise_alerts(settings, client, found, now_ms))
