"""The ``accuracy`` section: which labels dataset ``vigil accuracy`` scores and when an accuracy
drop raises an alert on vigil.alerts (evaluation/accuracy_alerts.py)."""

from __future__ import annotations

from pydantic import Field

from connectors.sinks.clickhouse.settings import SinkProcessSettings
from gpu_workers.settings import GpuWorkersSettings
from vigil.sections import Section
from vigil.settings import CoreSettings


class AccuracySettings(Section):
    """Accuracy over time against imported labels (``vigil dataset import``, ``vigil accuracy``).

    A model version's latest day on a camera alerts when a metric is below its minimum; days
    with fewer than ``min_frames`` labelled frames are too noisy to count. ``None`` turns a
    metric's check off."""

    dataset: str = Field("default", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    iou: float = Field(0.5, gt=0, le=1, description="IoU for a detection to match a label.")
    min_frames: int = Field(20, ge=1, description="Labelled frames a day needs to be checked.")
    min_map50: float | None = Field(0.3, ge=0, le=1)
    min_precision: float | None = Field(None, ge=0, le=1)
    min_recall: float | None = Field(0.3, ge=0, le=1)
    alert_candidates: bool = Field(
        False,
        description="Also alert on candidates' topics (replays, shadows); production only else.",
    )

    def minimums(self) -> dict[str, float]:
        """Metric -> minimum, for the metrics checked."""
        found = {
            "map50": self.min_map50,
            "precision": self.min_precision,
            "recall": self.min_recall,
        }
        return {k: v for k, v in found.items() if v is not None}


class AccuracyProcessSettings(CoreSettings):
    """The settings ``vigil accuracy`` and ``vigil dataset import`` are built with."""

    accuracy: AccuracySettings = AccuracySettings()


class PromotionSettings(Section):
    """What ``vigil models promote`` requires of the eval report (``vigil eval``) of the
    candidate against the production model. A report that misses any threshold refuses the
    promotion (``--force`` promotes anyway and the registry record says so). ``None`` turns a
    check off."""

    min_frames: int = Field(50, ge=1, description="Frames both models saw, at least.")
    min_agreement: float | None = Field(
        0.7, ge=0, le=1, description="Share of detections the two models agree on."
    )
    min_recall: float | None = Field(
        0.6,
        ge=0,
        le=1,
        description="Per label: share of production's detections the candidate also makes.",
    )
    label_recall: dict[str, float] = Field(
        default_factory=dict, description="Per-label minimum recall, over min_recall."
    )
    min_label_objects: int = Field(
        10, ge=1, description="A label is checked once production found it this often."
    )
    min_map50: float | None = Field(
        0.3, ge=0, le=1, description="The candidate's mAP@0.5 when the report has labels."
    )
    max_map50_drop: float | None = Field(
        0.05, ge=0, le=1, description="How far below production's mAP@0.5 it may be."
    )
    max_alert_changes: int | None = Field(
        10, ge=0, description="Alerts added plus removed, when the report replays rules."
    )
    max_report_age_h: float = Field(
        72.0, gt=0, description="An older report is stale: evaluate again."
    )


class PromotionProcessSettings(GpuWorkersSettings):
    """The settings ``vigil models promote`` and the retraining loop are built with."""

    promotion: PromotionSettings = PromotionSettings()


class CandidateProcessSettings(PromotionProcessSettings, SinkProcessSettings):
    """A candidate's whole check (evaluation/candidate_run.py): replay through it, sink its
    detections, evaluate it against production, gate its promotion."""
