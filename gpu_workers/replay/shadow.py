"""``vigil worker --shadow``: a candidate model on live frames, beside production.

Its consumer group is its own and stable per model (``<shadow prefix>-<name>-<version>``), so
a restart resumes where it stopped; a new shadow starts at the live end of the topic (not at
the oldest frame retention keeps). Its detections go to the candidates' topic, tagged with the
candidate's name and version like any worker output."""

from __future__ import annotations

from gpu_workers.replay.candidate import EngineKind, candidate_settings, slug
from gpu_workers.replay.replayer import candidate_outputs
from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.inference import Inference
from gpu_workers.worker.loop import Worker


def shadow_worker(
    settings: GpuWorkersSettings,
    model: str,
    *,
    engine: EngineKind | None = None,
    instance: str | None = None,
) -> Worker:
    cand = candidate_settings(settings, model, engine)
    inference = Inference(cand)
    ident = inference.detector.identity
    group = f"{settings.replay.shadow_group_prefix}-{slug(f'{ident.name}-{ident.event_version}')}"
    return Worker(
        cand,
        inference=inference,
        instance=instance,
        group_id=group,
        consumer_options={"auto.offset.reset": "latest"},
        outputs=candidate_outputs(settings),
    )
