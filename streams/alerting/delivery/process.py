"""``vigil deliver``: the delivery on its own, so it can be scaled and restarted apart from the
alerting stream (``vigil alerts`` runs the same :class:`Delivery` in-process)."""

from __future__ import annotations

import logging
import threading

from streams.alerting.delivery.supervisor import Delivery
from streams.alerting.reload import follow_rules
from streams.alerting.rules import RulesFile
from streams.alerting.settings import AlertingProcessSettings
from vigil import kafka
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.topics import prepare_topics

log = logging.getLogger("streams.alerting.delivery")


def run_delivery(
    settings: AlertingProcessSettings, rules: RulesFile, stop: threading.Event
) -> None:
    """Blocks until ``stop`` is set (the CLI sets it on SIGTERM/SIGINT), then stops cleanly."""
    setup_logging(settings, "alert-delivery")
    serve_metrics(settings.metrics_port, "alert-delivery")
    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    delivery = Delivery(settings, lambda: rules.rules.destinations).start()
    follower = follow_rules(rules, settings.alerting.rules_poll_s, stop)
    log.info(
        "delivery running: group %s, %d webhooks",
        delivery.group_id,
        len(rules.rules.destinations.webhooks),
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        delivery.stop()
        follower.join(settings.alerting.rules_poll_s + 1)
        log.info("delivery stopped")
