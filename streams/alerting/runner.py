"""Running the alerting stream as a process: topics, the watch-list, delivery, the Quix app."""

from __future__ import annotations

import logging
import threading

from streams.alerting.app import create_app
from streams.alerting.delivery import Delivery
from streams.alerting.poi import PoiFeed
from streams.alerting.reload import follow_rules
from streams.alerting.rules import RulesFile
from vigil import kafka
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.settings import VigilSettings
from vigil.topics import ensure_topics, topic_specs

log = logging.getLogger(__name__)


def run_alerting(settings: VigilSettings, rules: RulesFile, *, loglevel: str = "warning") -> None:
    """Blocks until SIGTERM/SIGINT. The watch-list is loaded before the first detection."""
    setup_logging(settings, "alerting")
    serve_metrics(settings.metrics_port, "alerting")
    kafka.wait_until_ready(settings)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    feed = PoiFeed(settings).start()
    feed.wait(settings.alerting.watchlist_timeout_s)
    log.info("watch-list loaded: %d persons", len(feed.watchlist))
    stop = threading.Event()
    follower = follow_rules(rules, settings.alerting.rules_poll_s, stop)
    delivery = None
    if settings.alerting.deliver:
        delivery = Delivery(settings, lambda: rules.rules.destinations).start()
    app = create_app(settings, rules, feed.watchlist, loglevel=loglevel)
    try:
        app.run()  # Quix stops cleanly on SIGTERM/SIGINT: the last checkpoint is committed
    finally:
        if delivery is not None:
            delivery.stop()
        stop.set()
        follower.join(settings.alerting.rules_poll_s + 1)
        feed.stop()
