"""The sampling tests' plumbing: ``vigil sample`` as a real process configured through the
environment, producing on the candidates' topic, reading committed samples."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from schemas.contracts import serde_for
from streams.sampling.app import app_id, candidates_topic
from vigil import kafka
from vigil.testing import VigilProcess, read_to_end, wait_committed, wait_settled
from vigil.topics import Topic
from vigil_app.settings import DatasetSettings, SamplingSettings, VigilSettings


def with_sampling(
    settings: VigilSettings, dataset: dict[str, Any] | None = None, **sampling: Any
) -> VigilSettings:
    cfg = {"session_timeout_s": 6.0, **sampling}
    return settings.model_copy(
        update={"sampling": SamplingSettings(**cfg), "dataset": DatasetSettings(**(dataset or {}))}
    )


class SampleProcess(VigilProcess):
    """``vigil sample [--only app|copier]`` on ``settings``' broker, topics and sections."""

    def __init__(self, settings: VigilSettings, log: Path, only: str | None = None) -> None:
        args = ["sample"] + (["--only", only] if only else [])
        super().__init__(
            args,
            settings,
            log,
            VIGIL_SAMPLING=settings.sampling.model_dump_json(),
            VIGIL_DATASET=settings.dataset.model_dump_json(),
            VIGIL_LOG_LEVEL="INFO",
        )


def produce_candidates(settings: VigilSettings, events: Iterable[dict[str, Any]]) -> None:
    """DetectionEvents on the candidates' topic (as ``vigil worker --shadow`` writes them)."""
    topic = candidates_topic(settings)
    serde = serde_for(settings, Topic.DETECTIONS)
    prod = kafka.producer(settings)
    for e in events:
        kafka.produce(prod, topic, serde.serialize(e, topic=topic), key=e["camera_id"])
    if prod.flush(30) != 0:
        raise TimeoutError(f"{topic}: not delivered")


def committed_samples(
    settings: VigilSettings, detections: int, proc: VigilProcess, timeout_s: float = 120
) -> list[dict[str, Any]]:
    """Every sample on vigil.samples once the app committed ``detections`` offsets of
    vigil.detections (its samples commit in the same transactions)."""
    wait_committed(settings, app_id(settings), detections, timeout_s, proc=proc)
    topic = Topic.SAMPLES.name_in(settings.topics)
    wait_settled(settings, topic, timeout_s=60)
    serde = serde_for(settings, Topic.SAMPLES)
    return [dict(serde.decode(m)) for m in read_to_end(settings, topic, timeout_s=60)]
