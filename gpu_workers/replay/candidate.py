"""A candidate model's settings and its output topics.

Candidates write to ``<candidates prefix>.detections`` (default ``vigil.candidates.detections``)
and ``<candidates prefix>.dlq``, never to production's ``vigil.detections``: the alerting app
reads that topic, and a candidate must not raise production alerts. The ClickHouse sink takes
the candidates' topic like any other (rows keep their source topic), so ``vigil eval`` finds
both models in the same tables."""

from __future__ import annotations

import re
from typing import Literal

from gpu_workers.settings import (
    GpuWorkersSettings,
    OnnxRuntimeEngineSettings,
    TensorRtEngineSettings,
)
from vigil import kafka
from vigil.settings import TopicSettings
from vigil.topics import Topic, ensure_topics, topic_specs

EngineKind = Literal["onnxruntime", "tensorrt"]


def candidates_topics(settings: GpuWorkersSettings) -> TopicSettings:
    """The topic settings whose DETECTIONS and DLQ names are the candidates' outputs."""
    prefix = settings.replay.candidates_prefix or f"{settings.topics.prefix}.candidates"
    return settings.topics.model_copy(update={"prefix": prefix})


def candidate_settings(
    settings: GpuWorkersSettings, model: str, engine: EngineKind | None = None
) -> GpuWorkersSettings:
    """``settings`` with ``model`` as the detector (zoo name or spec YAML) and ``engine``, and
    no motion gate: a candidate (replayed or in shadow) runs on every frame it is compared on."""
    models = settings.models.model_copy(update={"detector": model})
    worker = settings.worker
    if engine is not None and engine != worker.engine.kind:
        chosen = (
            OnnxRuntimeEngineSettings() if engine == "onnxruntime" else TensorRtEngineSettings()
        )
        worker = worker.model_copy(update={"engine": chosen})
    motion = worker.motion.model_copy(update={"enabled": False})
    worker = worker.model_copy(update={"motion": motion})
    return settings.model_copy(update={"models": models, "worker": worker})


def ensure_candidate_topics(settings: GpuWorkersSettings) -> tuple[str, str]:
    """Create the candidates' detections and DLQ topics (idempotent); their names."""
    topics = candidates_topics(settings)
    wanted = {Topic.DETECTIONS.name_in(topics), Topic.DLQ.name_in(topics)}
    ensure_topics(kafka.admin(settings), [s for s in topic_specs(topics) if s.name in wanted])
    return Topic.DETECTIONS.name_in(topics), Topic.DLQ.name_in(topics)


def slug(text: str) -> str:
    """A model name and version as a group-id-safe word."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"
