"""The app behind ``vigil sample`` on Quix Streams: ``vigil.detections`` (and the candidates'
detections, for the shadow comparison) in, ``vigil.samples`` out, exactly-once.

The two detection topics are concatenated before one stateful step, so a camera's production
and candidate events meet in one state store (they are co-partitioned: both get
``topics.detections_partitions``; the app refuses to start otherwise). Drift alarms come from
``vigil.alerts`` by a side reader (``alarms.py``). Quix Streams commits the state's changelog,
the samples and the consumed offsets in one transaction (``streams/runtime.py``): after a
crash, a rebalance or the loss of the state directory, each sample appears once on
``vigil.samples`` for ``read_committed`` readers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.state import State

from schemas.contracts import serde_for
from schemas.types import DetectionEvent
from streams.runtime import DetectionStep, Output, Source, application, wire
from streams.sampling import metrics
from streams.sampling.alarms import DriftAlarms
from streams.sampling.select import Sampler
from streams.sampling.settings import SamplingProcessSettings
from vigil import kafka
from vigil.errors import VigilError
from vigil.topics import Topic, TopicSpec, ensure_topics, topic_specs

log = logging.getLogger(__name__)
COMPONENT = "sampling"


class SamplingError(VigilError, RuntimeError):
    """The sampling app cannot run on these topics."""


def app_id(settings: SamplingProcessSettings) -> str:
    """The app's consumer group, also the prefix of its changelog topic."""
    return f"{settings.topics.prefix}-{settings.sampling.app_id}"


def state_dir(settings: SamplingProcessSettings) -> Path:
    return settings.sampling.state_dir or settings.data_dir / "sampling" / "state"


def candidates_topic(settings: SamplingProcessSettings) -> str:
    """Where shadow candidates write (``vigil worker --shadow``'s default)."""
    return settings.sampling.candidates_topic or f"{settings.topics.prefix}.candidates.detections"


class Buffered:
    """A camera's state whose writes reach Quix only when :meth:`flush` is called: a data error
    half-way through an event leaves the state as it was."""

    def __init__(self, state: State[Any, Any]) -> None:
        self.state = state
        self.writes: dict[str, Any] = {}
        self.deleted: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.deleted:
            return default
        if key in self.writes:
            return self.writes[key]
        value = self.state.get(key)
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        self.deleted.discard(key)
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.writes.pop(key, None)
        self.deleted.add(key)

    def flush(self) -> None:
        for key in self.deleted:
            self.state.delete(key)
        for key, value in self.writes.items():
            self.state.set(key, value)


class SamplingStep(DetectionStep):
    """One detection event (production or candidate) in; the samples it decided, out."""

    def __init__(self, settings: SamplingProcessSettings, alarms: DriftAlarms) -> None:
        super().__init__(settings, COMPONENT, metrics.DEAD_LETTERED)
        self.sampler = Sampler(settings.sampling)
        self.alarms = alarms
        self.candidates = candidates_topic(settings)
        self.samples = serde_for(settings, Topic.SAMPLES)
        self.samples_topic = Topic.SAMPLES.name_in(settings.topics)

    def apply(self, record: DetectionEvent, source: Source, state: State[Any, Any]) -> list[Output]:
        camera = str(record["camera_id"])
        kv = Buffered(state)
        alarms = self.alarms.of(camera)
        if source.topic == self.candidates:
            metrics.EVENTS.labels("candidate").inc()
            chosen = self.sampler.candidate(kv, record, alarms)
        else:
            metrics.EVENTS.labels("production").inc()
            chosen = self.sampler.production(kv, record, alarms)
        out = [
            Output(self.samples_topic, self.samples.serialize(s, topic=self.samples_topic))
            for s in chosen
        ]
        kv.flush()
        for s in chosen:
            log.info(
                "sample %s camera=%s reasons=%s",
                s["sample_id"],
                camera,
                ",".join(r["kind"] for r in s["reasons"]),
            )
        return out


def ensure_inputs(settings: SamplingProcessSettings) -> None:
    """Create the candidates' topic like production's detections (a shadow may start later)
    and refuse to run when the two are not co-partitioned: a camera's events of the two would
    meet in different state stores."""
    if not settings.sampling.shadow:
        return
    admin = kafka.admin(settings)
    detections = Topic.DETECTIONS.name_in(settings.topics)
    spec = next(s for s in topic_specs(settings.topics) if s.name == detections)
    name = candidates_topic(settings)
    ensure_topics(admin, [TopicSpec(name, spec.partitions, spec.replication_factor, spec.config)])
    md = admin.list_topics(timeout=30).topics
    counts = {t: len(md[t].partitions) for t in (detections, name)}
    if counts[detections] != counts[name]:
        raise SamplingError(
            f"{name} has {counts[name]} partitions and {detections} {counts[detections]}: the "
            "shadow comparison needs them equal (grow the smaller with `vigil topics ensure` "
            "and topics.detections_partitions, or set sampling.shadow: false)"
        )


def create_app(settings: SamplingProcessSettings, alarms: DriftAlarms | None = None) -> Application:
    """The sampling app for ``settings`` (tests build one per test: unique topic prefix)."""
    app = application(
        settings,
        settings.sampling,
        group=app_id(settings),
        state_dir=state_dir(settings),
        loglevel=settings.log_level,
    )
    also = [candidates_topic(settings)] if settings.sampling.shadow else []
    step = SamplingStep(settings, alarms if alarms is not None else DriftAlarms())
    wire(app, settings, Topic.DETECTIONS, step, [Topic.SAMPLES, Topic.DLQ], also=also)
    return app
