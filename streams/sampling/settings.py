"""The settings of ``streams.sampling``: its section of the settings file, and the settings a
process of it is built with."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from vigil.sections import Section
from vigil.settings import CoreSettings


class SamplingSettings(Section):
    """The active-learning sampler (``vigil sample``): which frames are worth labelling."""

    app_id: str = Field("sampling", pattern=r"^[A-Za-z0-9._-]+$")
    budget_per_camera_hour: int = Field(
        20, ge=0, description="Samples per camera per hour of capture time, all reasons together."
    )
    uncertain_low: float = Field(0.3, ge=0, le=1, description="Uncertain band: score >= this ...")
    uncertain_high: float = Field(0.6, ge=0, le=1, description="... and score < this.")
    rare_fraction: float = Field(
        0.02, gt=0, lt=1, description="A label under this share of its camera's detections."
    )
    rare_min_score: float = Field(
        0.5, ge=0, le=1, description="Only detections this confident count as a label seen."
    )
    rare_warmup: int = Field(
        200, ge=1, description="Detections a camera must have counted before a label is rare."
    )
    rare_window: int = Field(
        10_000, ge=2, description="Counts are halved past this total: shares follow the scene."
    )
    drift_frames: int = Field(5, ge=0, description="Frames sampled per drift-alarmed window.")
    drift_bucket_s: float = Field(
        60.0, gt=0, description="The reservoir of candidate frames keeps a few per bucket."
    )
    drift_per_bucket: int = Field(2, ge=1, description="Frames kept per reservoir bucket.")
    drift_horizon_s: float = Field(
        1200.0,
        gt=0,
        description="Event time the reservoir reaches back: a drift window (drift.window_s), "
        "its lateness and the time its alarm takes to arrive must fit.",
    )
    shadow: bool = Field(True, description="Compare production with the candidates' topic.")
    candidates_topic: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Empty: <topics.prefix>.candidates.detections (replay.candidates_prefix).",
    )
    shadow_iou: float = Field(0.5, gt=0, le=1, description="Boxes match at this IoU, same label.")
    shadow_min_score: float = Field(
        0.5, ge=0, le=1, description="Detections under this score are ignored in the comparison."
    )
    shadow_agreement: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Disagreement: matched boxes / the larger side's boxes under this.",
    )
    shadow_pending: int = Field(
        256, ge=1, description="Frames per camera waiting for their other side (oldest go)."
    )
    alarms_timeout_s: float = Field(60.0, gt=0, description="Catch-up on vigil.alerts at start.")
    session_timeout_s: float = Field(10.0, ge=6)
    commit_interval_s: float = Field(
        1.0, gt=0, description="Checkpoint (one Kafka transaction) at least this often."
    )
    transaction_timeout_s: float = Field(
        10.0, ge=1, description="A crashed instance's open transaction is aborted after this."
    )
    state_dir: Path | None = Field(
        None, description="RocksDB state; None: <data_dir>/sampling/state (restored if lost)."
    )

    @model_validator(mode="after")
    def _band(self) -> SamplingSettings:
        if self.uncertain_low >= self.uncertain_high:
            raise ValueError(
                f"uncertain_low ({self.uncertain_low}) must be under uncertain_high "
                f"({self.uncertain_high})"
            )
        return self


class SamplingProcessSettings(CoreSettings):
    """The settings the sampling app is built with."""

    sampling: SamplingSettings = SamplingSettings()
