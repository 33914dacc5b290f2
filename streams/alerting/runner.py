"""Running the alerting stream as a process: topics, the watch-list, delivery, the Quix app."""

from __future__ import annotations

import logging
import threading

from streams.alerting import metrics
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


class RulesReloader:
    """Re-reads the rules file every ``poll_s`` in a thread of its own, so a change reaches
    the rules and the delivery destinations even while no detection arrives."""

    def __init__(self, rules: RulesFile, poll_s: float) -> None:
        self.rules = rules
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rules-reload", daemon=True)

    def start(self) -> RulesReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.rules.refresh():
                metrics.RULE_RELOADS.labels("applied").inc()
            elif self.rules.error is not None:
                metrics.RULE_RELOADS.labels("rejected").inc()


def run_alerting(settings: VigilSettings, rules: RulesFile, *, loglevel: str = "warning") -> None:
    """Blocks until SIGTERM/SIGINT. The watch-list is loaded before the first detection."""
    setup_logging(settings, "alerting")
    serve_metrics(settings.metrics_port, "alerting")
    kafka.wait_until_ready(settings)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    feed = PoiFeed(settings).start()
    feed.wait(settings.alerting.watchlist_timeout_s)
    log.info("watch-list loaded: %d persons", len(feed.watchlist))
    reloader = RulesReloader(rules, settings.alerting.rules_poll_s).start()
    delivery = None
    if settings.alerting.deliver:
        delivery = Delivery(settings, lambda: rules.rules.destinations).start()
    app = create_app(settings, rules, feed.watchlist, loglevel=loglevel)
    try:
        app.run()  # Quix stops cleanly on SIGTERM/SIGINT: the last checkpoint is committed
    finally:
        if delivery is not None:
            delivery.stop()
        reloader.stop()
        feed.stop()
