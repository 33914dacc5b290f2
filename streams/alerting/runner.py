"""Running the alerting stream as a process: topics, the watch-list, delivery, the Quix app."""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from quixstreams import Application

from streams.alerting.app import create_app
from streams.alerting.delivery import Delivery
from streams.alerting.reload import follow_rules
from streams.alerting.rules import RulesFile
from streams.alerting.settings import AlertingProcessSettings
from streams.runtime import run_app
from vigil import kafka
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.poi import PoiFeed
from vigil.topics import changelog_specs, ensure_topics, prepare_topics

log = logging.getLogger(__name__)


def bound_changelogs(admin: AdminClient, settings: AlertingProcessSettings) -> None:
    """The app's state (created with the app) names persons: its changelog gets the compaction
    bound of vigil.poi, so a superseded state value is erased within the same bound."""
    try:
        for r in ensure_topics(admin, changelog_specs(admin, settings.topics)):
            if r.changes:
                log.info("changelog %s: %s", r.name, ", ".join(r.changes))
    except KafkaException as exc:
        log.warning("changelog configs not set (%s): run `vigil topics ensure`", exc)


def run_alerting(
    settings: AlertingProcessSettings, rules: RulesFile, *, loglevel: str = "warning"
) -> None:
    """Blocks until SIGTERM/SIGINT. The watch-list is loaded before the first detection."""
    setup_logging(settings, "alerting")
    serve_metrics(settings.metrics_port, "alerting")
    kafka.wait_until_ready(settings)
    admin = kafka.admin(settings)
    prepare_topics(admin, settings.topics)
    feed = PoiFeed(
        settings, roll_markers=True, pseudonym_key=settings.alerting.log_pseudonym_key
    ).start()
    feed.wait(settings.alerting.watchlist_timeout_s)
    log.info("watch-list loaded: %d persons", len(feed.watchlist))
    stop = threading.Event()
    follower = follow_rules(rules, settings.alerting.rules_poll_s, stop)
    delivery = None
    if settings.alerting.deliver:
        delivery = Delivery(settings, lambda: rules.rules.destinations).start()

    def make() -> Application:
        app = create_app(settings, rules, feed.watchlist, loglevel=loglevel)
        bound_changelogs(admin, settings)  # the app has just created its changelog
        return app

    try:
        run_app(make, "alerting")
    finally:
        if delivery is not None:
            delivery.stop()
        stop.set()
        follower.join(settings.alerting.rules_poll_s + 1)
        feed.stop()
