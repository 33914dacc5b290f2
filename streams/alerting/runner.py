"""Running the alerting stream as a process: topics, the watch-list, delivery, the faust worker."""

from __future__ import annotations

import logging

import faust

from streams.alerting.app import create_app
from streams.alerting.delivery import Delivery
from streams.alerting.poi import PoiFeed
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
    delivery = None
    if settings.alerting.deliver:
        delivery = Delivery(settings, lambda: rules.rules.destinations).start()
    app = create_app(settings, rules, feed.watchlist)
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    finally:
        if delivery is not None:
            delivery.stop()
        feed.stop()
