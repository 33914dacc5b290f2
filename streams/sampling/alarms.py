"""The drift alarms the sampler has heard of. A drift alarm (an Alert on ``vigil.alerts`` with
``rule_id`` ``drift:<feature>``) is raised once its window closed, so the window's frames have
already gone by: the sampler keeps a small reservoir of recent frames per camera and, when an
alarm is known, samples that window's frames out of it (``select.Sampler``).

``vigil.alerts`` is not co-partitioned with ``vigil.detections`` (2 and 4 partitions by
default), so it cannot join the Quix app's input: every instance reads all of it, group-less and
``read_committed``, with :class:`vigil.follow.Follower`, into this bounded table. The state
records which alarms were sampled, so an alarm seen again after a restart samples nothing
twice."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from schemas.contracts import serde_for
from schemas.serde import SerdeError
from vigil.follow import Follower
from vigil.settings import CoreSettings
from vigil.topics import Topic

log = logging.getLogger(__name__)
DRIFT_RULE = "drift:"
PER_CAMERA = 256  # alarms kept per camera (the newest)


@dataclass(frozen=True)
class Alarm:
    key: str  # the alert id: one sampling per alarm
    camera_id: str
    model_version: str  # empty: any
    start_ms: int
    end_ms: int
    rule_id: str


def alarm_of(alert: Mapping[str, Any]) -> Alarm | None:
    """The drift alarm an Alert is, or None (another rule, or no window in its details)."""
    rule = str(alert.get("rule_id", ""))
    if not rule.startswith(DRIFT_RULE):
        return None
    details = alert.get("details") or {}
    try:
        start = int(details["window_start_ms"])
        end = int(details["window_end_ms"])
    except (KeyError, ValueError):
        return None
    return Alarm(
        str(alert["alert_id"]),
        str(alert["camera_id"]),
        str(details.get("model_version", "")),
        start,
        end,
        rule,
    )


class DriftAlarms:
    """The newest drift alarms per camera, fed by :meth:`add` from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_camera: dict[str, deque[Alarm]] = defaultdict(lambda: deque(maxlen=PER_CAMERA))
        self._keys: set[str] = set()

    def add(self, alarm: Alarm) -> None:
        with self._lock:
            if alarm.key in self._keys:
                return
            kept = self._by_camera[alarm.camera_id]
            if len(kept) == kept.maxlen:
                self._keys.discard(kept[0].key)
            kept.append(alarm)
            self._keys.add(alarm.key)

    def of(self, camera: str) -> list[Alarm]:
        with self._lock:
            return list(self._by_camera.get(camera, ()))


class AlarmFeed:
    """A :class:`Follower` of ``vigil.alerts`` into a :class:`DriftAlarms`."""

    def __init__(self, settings: CoreSettings, alarms: DriftAlarms) -> None:
        self.alarms = alarms
        self.serde = serde_for(settings, Topic.ALERTS)
        self.follower = Follower(
            settings, Topic.ALERTS.name_in(settings.topics), self._on, name="sampling-alarms"
        )

    def _on(self, msg: Message) -> None:
        try:
            alert = self.serde.decode(msg)
        except SerdeError as exc:  # the alerting app's DLQ is not ours: skip, say so
            log.warning(
                "sampling: undecodable alert at %s/%s: %s", msg.partition(), msg.offset(), exc
            )
            return
        alarm = alarm_of(alert)
        if alarm is not None:
            self.alarms.add(alarm)

    def start(self, timeout_s: float) -> AlarmFeed:
        """Started, and caught up with the alarms already on the topic."""
        self.follower.start()
        self.follower.wait(timeout_s)
        return self

    def stop(self) -> None:
        self.follower.stop()
