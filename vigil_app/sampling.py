"""``vigil sample``'s process: the sampling app (``streams.sampling``) and the dataset copier
(``connectors.sinks.dataset``) side by side, the face models handed to the copier. The two meet
only through ``vigil.samples``; this is where they are started together."""

from __future__ import annotations

import logging
import signal
from typing import Any, Literal

from quixstreams import Application

from connectors.sinks.dataset.copier import CopierRunner
from gpu_workers.faces import CascadeFaces
from gpu_workers.replay.candidate import candidates_topics
from streams.runtime import run_app
from streams.sampling.alarms import AlarmFeed, DriftAlarms
from streams.sampling.app import create_app, ensure_inputs
from vigil import kafka
from vigil.faces import FaceModels
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.topics import Topic, changelog_specs, ensure_topics, prepare_topics
from vigil_app.settings import VigilSettings

log = logging.getLogger(__name__)
Only = Literal["app", "copier"]


def sampling_settings(settings: VigilSettings) -> VigilSettings:
    """``sampling.candidates_topic`` defaults to where shadow workers write
    (``replay.candidates_prefix``)."""
    if settings.sampling.candidates_topic:
        return settings
    name = Topic.DETECTIONS.name_in(candidates_topics(settings))
    sampling = settings.sampling.model_copy(update={"candidates_topic": name})
    return settings.model_copy(update={"sampling": sampling})


def run_sampling(
    settings: VigilSettings, *, only: Only | None = None, faces: FaceModels | None = None
) -> None:
    """Blocks until SIGTERM/SIGINT: the app (exactly-once) and the copier, or ``only`` one."""
    settings = sampling_settings(settings)
    setup_logging(settings, "sampling")
    serve_metrics(settings.metrics_port, "sampling")
    kafka.wait_until_ready(settings)
    admin = kafka.admin(settings)
    prepare_topics(admin, settings.topics)
    copier = None
    if only != "app":
        copier = CopierRunner(settings, faces if faces is not None else CascadeFaces(settings))
    if only == "copier" and copier is not None:
        _copier_alone(copier)
        return
    ensure_inputs(settings)
    alarms = DriftAlarms()
    feed = AlarmFeed(settings, alarms).start(settings.sampling.alarms_timeout_s)

    def make() -> Application:
        app = create_app(settings, alarms)
        for r in ensure_topics(admin, changelog_specs(admin, settings.topics)):  # just created
            if r.changes:
                log.info("changelog %s: %s", r.name, ", ".join(r.changes))
        return app

    try:
        if copier is not None:
            copier.start()
        run_app(make, "sampling")
    finally:
        feed.stop()
        if copier is not None and not copier.stop():
            log.warning("dataset copier did not stop in time")
    if copier is not None and copier.error is not None:
        raise copier.error


def _copier_alone(copier: CopierRunner) -> None:
    def stop(_signum: int, _frame: Any) -> None:
        copier.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    copier.run()
