"""The alerting app: ``vigil.detections`` to ``vigil.alerts`` on Quix Streams, exactly-once.

Each detection event is decoded with Vigil's serde (an undecodable event, or one the rules
cannot use, goes to ``vigil.dlq`` with the reason) and applied to its camera's state: tracker,
rule and incident state, one JSON value per camera in the app's RocksDB store. Quix Streams
commits the store's changelog, the alerts and the consumed offsets in one transaction
(``streams/runtime.py``), so after a crash, a rebalance or the loss of the local state
directory an instance resumes from exactly the state its committed offsets imply: an open
incident is never notified twice, and no alert is lost or published twice on ``vigil.alerts``
for ``read_committed`` readers."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.state import State

from schemas.contracts import serde_for
from streams.alerting import metrics
from streams.alerting.audit import AuditLog
from streams.alerting.camera_state import CameraState, forget_removed
from streams.alerting.engine import alert_record, process
from streams.alerting.rules import RulesFile
from streams.alerting.settings import AlertingProcessSettings
from streams.runtime import DetectionStep, Output, Source, application, wire
from vigil.pseudonyms import Pseudonyms
from vigil.topics import Topic
from vigil.watchlist import Watchlist

log = logging.getLogger(__name__)
COMPONENT = "alerting"
STATE_KEY = "camera"  # the one state value under each camera's key


def app_id(settings: AlertingProcessSettings) -> str:
    """The app's consumer group, also the prefix of its changelog topic."""
    return f"{settings.topics.prefix}-{settings.alerting.app_name}"


def state_dir(settings: AlertingProcessSettings) -> Path:
    return settings.alerting.state_dir or settings.data_dir / "alerting" / "state"


def audit_path(settings: AlertingProcessSettings) -> Path:
    return settings.alerting.audit_log or settings.data_dir / "alerting" / "poi-audit.jsonl"


class AlertingStep(DetectionStep):
    """One detection event in, its alerts (or its DLQ record) out."""

    def __init__(
        self, settings: AlertingProcessSettings, rules: RulesFile, watchlist: Watchlist | None
    ) -> None:
        super().__init__(settings, COMPONENT, metrics.DEAD_LETTERED)
        self.rules = rules
        self.watchlist = watchlist if watchlist is not None else Watchlist()
        self.alerts = serde_for(settings, Topic.ALERTS)
        self.alerts_topic = Topic.ALERTS.name_in(settings.topics)
        cfg = settings.alerting
        self.audit = AuditLog(audit_path(settings), Pseudonyms(cfg.log_pseudonym_key))
        self.open_incidents: dict[str, int] = {}

    def apply(self, record: dict[str, Any], source: Source, state: State[Any, Any]) -> list[Output]:
        camera = str(record["camera_id"])
        current = CameraState.loads(state.get_bytes(STATE_KEY))
        if current.is_applied(source.partition, source.offset):
            metrics.REDELIVERED.inc()  # never expected under exactly-once; counted if it happens
            return []
        forget_removed(current, self.watchlist)
        outcome = process(record, current, self.rules.rules, self.watchlist)
        current.applied = (source.partition, source.offset)
        state.set_bytes(STATE_KEY, current.dumps())
        now_ms = int(time.time() * 1000)
        out = []
        for note in outcome.notifications:
            alert = alert_record(note, record, now_ms)
            value = self.alerts.serialize(alert, topic=self.alerts_topic)
            out.append(Output(self.alerts_topic, value))
            metrics.ALERTS.labels(note.rule_id, note.severity).inc()
            metrics.LATENCY.observe(max(0, now_ms - int(record["inference_ts_ms"])) / 1000)
            log.info("alert rule=%s camera=%s incident=%s", note.rule_id, camera, note.incident_id)
        metrics.SUPPRESSED.inc(outcome.suppressed)
        metrics.POI_REJECTED.inc(outcome.poi_rejected)
        for entry in outcome.audit:
            counter = metrics.POI_MATCHES if entry.decision == "match" else metrics.NEAR_MISSES
            counter.inc()
        self.audit.write(outcome.audit, now_ms)
        opened = len(current.incidents) - self.open_incidents.get(camera, 0)
        self.open_incidents[camera] = len(current.incidents)
        metrics.OPEN_INCIDENTS.inc(opened)  # a running total, not a sum over cameras per event
        return out


def create_app(
    settings: AlertingProcessSettings,
    rules: RulesFile,
    watchlist: Watchlist | None = None,
    *,
    loglevel: str = "WARNING",
) -> Application:
    """The Quix Streams application for ``settings`` (broker, security, topics) and ``rules``."""
    app = application(
        settings,
        settings.alerting,
        group=app_id(settings),
        state_dir=state_dir(settings),
        loglevel=loglevel,
    )
    step = AlertingStep(settings, rules, watchlist)
    wire(app, settings, Topic.DETECTIONS, step, [Topic.ALERTS, Topic.DLQ])
    return app
