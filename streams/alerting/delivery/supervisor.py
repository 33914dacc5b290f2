"""The lanes of the configured destinations, kept in line with the rules file."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from streams.alerting import metrics
from streams.alerting.delivery.groups import caught_up, committed_offsets
from streams.alerting.delivery.lane import Lane
from streams.alerting.delivery.targets import LogTarget, WebhookTarget, lane_id
from streams.alerting.rules import Destinations, Webhook
from streams.alerting.settings import AlertingProcessSettings
from vigil.follow import topic_ends
from vigil.pseudonyms import Pseudonyms
from vigil.topics import Topic

log = logging.getLogger("streams.alerting.delivery")
RECONCILE_S = 1.0
SEED_WAIT_S = 30.0
RETIRE_DRAIN_S = 5.0
LOG_LANE = "log"


class Delivery:
    """Consumes ``vigil.alerts`` once per destination: the log lane in ``group_id`` (default
    ``<prefix>-alert-delivery``), each webhook's lane in ``<group_id>-<lane id>``. About once a
    second the current :class:`Destinations` are read and lanes started, updated or stopped."""

    def __init__(
        self,
        settings: AlertingProcessSettings,
        destinations: Callable[[], Destinations],
        group_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.destinations = destinations
        self.topic = Topic.ALERTS.name_in(settings.topics)
        self.group_id = group_id or f"{settings.topics.prefix}-alert-delivery"
        self.lanes: dict[str, Lane] = {}
        self._log_target = LogTarget(pseudonyms=Pseudonyms(settings.alerting.log_pseudonym_key))
        self._retiring: list[Lane] = []
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="alert-delivery", daemon=True)

    def start(self) -> Delivery:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Every lane finishes or abandons its posts and commits what finished, within
        ``timeout_s`` in all."""
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s / 2)
        with self._lock:
            lanes = [*self.lanes.values(), *self._retiring]
        drain_until = max(time.monotonic() + 0.5, deadline - 2.0)
        for lane in lanes:
            lane.stop(drain_until)
        for lane in lanes:
            if not lane.join(max(0.1, deadline - time.monotonic())):
                log.warning("%s: lane did not stop within %.0f s", lane.group_id, timeout_s)

    def group_for(self, hook: Webhook) -> str:
        return f"{self.group_id}-{lane_id(hook.url)}"

    def groups(self) -> list[str]:
        """The consumer groups of the destinations configured now."""
        hooks = self._wanted(self.destinations().webhooks)
        return [self.group_id, *(self.group_for(h) for h in hooks.values())]

    def _wanted(self, webhooks: tuple[Webhook, ...]) -> dict[str, Webhook]:
        wanted: dict[str, Webhook] = {}
        for hook in webhooks:
            key = lane_id(hook.url)
            if key in wanted:
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning("webhook %s is listed twice; the first entry is used", key)
                continue
            wanted[key] = hook
        return wanted

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                self._reconcile()
            except Exception:  # keep supervising: the lanes run on their own
                log.exception("delivery: reconciling the lanes failed")
            self._stop.wait(RECONCILE_S)

    def _reconcile(self) -> None:
        dest = self.destinations()
        wanted = self._wanted(dest.webhooks)
        with self._lock:
            if self._stop.is_set():
                return
            self._log_target.enabled = dest.log
            started = (self._keep(key, hook) for key, hook in wanted.items())
            fresh = [lane for lane in started if lane is not None]
            for key in set(self.lanes) - set(wanted) - {LOG_LANE}:
                log.info("%s: destination removed, lane stopped", self.lanes[key].group_id)
                self._retire(self.lanes.pop(key))
            ref = self.lanes.get(LOG_LANE)
            if ref is None or not ref.alive:
                # new groups take their starting point from this one: before it moves on
                deadline = time.monotonic() + SEED_WAIT_S
                for lane in fresh:
                    while not lane.seeded.wait(0.2):
                        if self._stop.is_set() or time.monotonic() > deadline:
                            break
                if self._stop.is_set():
                    return
                self._restarted(ref)
                self.lanes[LOG_LANE] = Lane(
                    self.settings, self._log_target, self.group_id, dead_letter_undecodable=True
                ).start()
            self._retiring = [lane for lane in self._retiring if lane.alive]

    def _keep(self, key: str, hook: Webhook) -> Lane | None:
        """Keep the webhook's lane in line with ``hook``; the lane if one was started."""
        lane = self.lanes.get(key)
        if lane is not None and lane.alive:
            target = lane.target
            if not isinstance(target, WebhookTarget) or target.hook == hook:
                return None
            if target.hook.max_in_flight == hook.max_in_flight:
                target.hook = hook  # timeouts, retries, secret...: the next attempt uses them
                log.info("%s: webhook settings updated", lane.group_id)
                return None
            self._retire(lane)
        else:
            self._restarted(lane)
        new = Lane(
            self.settings, WebhookTarget(hook), self.group_for(hook), seed_from=self.group_id
        )
        self.lanes[key] = new.start()
        return new

    def _restarted(self, lane: Lane | None) -> None:
        if lane is not None and not lane.stopping:
            metrics.DELIVERY_LANE_RESTARTS.labels(lane.target.name).inc()
            log.warning("%s: lane died; starting it again", lane.group_id)

    def _retire(self, lane: Lane) -> None:
        lane.stop(time.monotonic() + RETIRE_DRAIN_S)
        self._retiring.append(lane)


def wait_drained(delivery: Delivery, timeout_s: float) -> bool:
    """True once every configured destination's group has committed everything that was on
    ``vigil.alerts`` when this was called (tests and the demo)."""
    deadline = time.monotonic() + timeout_s
    settings, topic = delivery.settings, delivery.topic
    ends = topic_ends(settings, topic, timeout_s=max(1.0, timeout_s))
    while True:
        groups = delivery.groups()
        if all(
            caught_up(committed_offsets(settings, g, topic, sorted(ends)), ends) for g in groups
        ):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
