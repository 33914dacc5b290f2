"""The app behind ``vigil drift`` on Quix Streams: ``vigil.detections`` in, ``vigil.drift`` and
drift alerts on ``vigil.alerts`` out, exactly-once.

State (open windows, watermarks, streaks, automatic references) is one JSON value per
(camera, model version) in the app's RocksDB store under the camera's key. Quix Streams commits
the store's changelog, a closed window's ``DriftStat`` and ``Alert`` records and the consumed
offsets in one transaction (``streams/runtime.py``): after a crash, a rebalance or the loss of
the local state directory, every window's statistics appear once on ``vigil.drift`` for
``read_committed`` readers, with the values of an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.state import State

from schemas.contracts import serde_for
from schemas.types import DetectionEvent
from streams.drift import metrics
from streams.drift.baseline import Baseline, BaselineStore
from streams.drift.engine import Closed, DriftEngine
from streams.drift.settings import DriftProcessSettings
from streams.runtime import DetectionStep, Output, Source, application, run_app, wire
from vigil import kafka
from vigil.metrics import serve_metrics
from vigil.topics import Topic, prepare_topics

log = logging.getLogger(__name__)
COMPONENT = "drift"


def app_id(settings: DriftProcessSettings) -> str:
    """The app's consumer group, also the prefix of its changelog topic."""
    return f"{settings.topics.prefix}-{settings.drift.app_id}"


def state_dir(settings: DriftProcessSettings) -> Path:
    return settings.drift.state_dir or settings.data_dir / "drift" / "state"


class EventState(MutableMapping[str, Any]):
    """The engine's mapping over the state of the camera being processed (Quix scopes state
    to the record's key); set :attr:`current` before each event. Not iterable."""

    def __init__(self) -> None:
        self.current: State[Any, Any] | None = None

    def _state(self) -> State[Any, Any]:
        if self.current is None:
            raise RuntimeError("no record is being processed")
        return self.current

    def __getitem__(self, key: str) -> Any:
        value = self._state().get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._state().set(key, value)

    def __delitem__(self, key: str) -> None:
        self._state().delete(key)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the drift state is read by key only")

    def __len__(self) -> int:
        raise TypeError("the drift state is read by key only")


class DriftStep(DetectionStep):
    """One detection event in; the windows it closed, as DriftStat and Alert records, out."""

    def __init__(self, settings: DriftProcessSettings) -> None:
        super().__init__(settings, COMPONENT, metrics.DEAD_LETTERED)
        cfg = settings.drift
        self.state = EventState()
        self.store = BaselineStore.of(settings)
        self.window_ms = round(cfg.window_s * 1000)
        self.engine = DriftEngine(
            cfg, self.state, pinned=self.store.pinned, on_reference=self._save_auto
        )
        self.drift = serde_for(settings, Topic.DRIFT)
        self.alerts = serde_for(settings, Topic.ALERTS)
        self.drift_topic = Topic.DRIFT.name_in(settings.topics)
        self.alerts_topic = Topic.ALERTS.name_in(settings.topics)

    def apply(self, record: DetectionEvent, source: Source, state: State[Any, Any]) -> list[Output]:
        metrics.EVENTS.inc()
        self.state.current = state
        try:
            closed = self.engine.process(record, source.offset)
        finally:
            self.state.current = None
        return self._outputs(closed)

    def _outputs(self, closed: list[Closed]) -> list[Output]:
        out = []
        for window in closed:
            for row in window.stats:
                value = self.drift.serialize(row, topic=self.drift_topic)
                out.append(Output(self.drift_topic, value))
            for alert in window.alerts:
                value = self.alerts.serialize(alert, topic=self.alerts_topic)
                out.append(Output(self.alerts_topic, value))
                log.warning(
                    "drift alarm %s on camera %s model %s (window %d)",
                    alert["rule_id"],
                    window.camera_id,
                    window.model_version,
                    window.window_start_ms,
                )
        return out

    def _save_auto(self, camera: str, version: str, ref: dict[str, Any]) -> None:
        """A copy of an automatic reference for people; the state is the source of truth."""
        model_name = (self.state.get(f"{camera}\x1f{version}") or {}).get("model_name", "")
        start, end = min(ref["windows"]), max(ref["windows"]) + self.window_ms
        try:
            self.store.save(
                Baseline(camera, model_name, version, start, end, "auto", 0, ref["summary"])
            )
        except OSError as exc:
            log.warning("cannot write the automatic reference copy: %s", exc)


def create_app(settings: DriftProcessSettings) -> Application:
    """The drift app for ``settings``: tests build one per test (unique topic prefix)."""
    app = application(
        settings,
        settings.drift,
        group=app_id(settings),
        state_dir=state_dir(settings),
        loglevel=settings.log_level,
    )
    outputs = [Topic.DRIFT, Topic.ALERTS, Topic.DLQ]
    wire(app, settings, Topic.DETECTIONS, DriftStep(settings), outputs)
    return app


def run(settings: DriftProcessSettings) -> None:
    """``vigil drift``: ensure the topics, serve metrics, run the app until SIGTERM/SIGINT."""

    kafka.wait_until_ready(settings)
    prepare_topics(kafka.admin(settings), settings.topics)
    serve_metrics(settings.metrics_port, COMPONENT)
    run_app(lambda: create_app(settings), COMPONENT)
