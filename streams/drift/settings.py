"""The settings of ``streams.drift``: its sections of the settings file, and the settings
a process of it is built with."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from vigil.sections import Section
from vigil.settings import CoreSettings


class DriftSettings(Section):
    """The drift-statistics stream (``vigil drift``): windows, references, thresholds."""

    app_id: str = Field("drift", pattern=r"^[A-Za-z0-9._-]+$")
    window_s: float = Field(300.0, gt=0, description="Tumbling window length, event time.")
    allowed_lateness_s: float = Field(
        30.0,
        ge=0,
        description="A window closes once its camera's event time passes its end + this.",
    )
    reference_windows: int = Field(
        3, ge=1, description="Windows merged into the automatic reference of a new model version."
    )
    consecutive: int = Field(
        2, ge=1, description="Drifted windows in a row before a statistical feature alarms."
    )
    quality_consecutive: int = Field(1, ge=1, description="Same, for data-quality alarms.")
    min_samples: int = Field(30, ge=1, description="Fewer values in a window: feature skipped.")
    psi_threshold: float = Field(0.2, gt=0)
    js_threshold: float = Field(0.2, gt=0, description="Jensen-Shannon distance, base 2.")
    ks_threshold: float = Field(0.25, gt=0, description="Two-sample KS D (binned).")
    embedding_threshold: float = Field(0.3, gt=0, description="Cosine distance of centroids.")
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description='Per "feature" or "feature:STAT" overrides, e.g. {"class_mix:PSI": 0.3}.',
    )
    dark_brightness: float = Field(0.05, ge=0, le=1, description="Blackout: frame luma under.")
    blackout_fraction: float = Field(0.5, gt=0, le=1)
    blur_ratio: float = Field(
        0.25, gt=0, lt=1, description="Lens blur: median sharpness under this x the reference."
    )
    frozen_fraction: float = Field(
        0.8, gt=0, le=1, description="Frozen feed: consecutive frames with identical dhash."
    )
    detection_loss_ratio: float = Field(
        0.2, gt=0, lt=1, description="Share of frames with detections under this x reference."
    )
    busy_camera: float = Field(
        0.5, gt=0, le=1, description="Detection loss only where the reference share is over."
    )
    baselines_dir: Path | None = Field(None, description="None: <data_dir>/drift/baselines.")
    session_timeout_s: float = Field(
        30.0, ge=6, description="Consumer group session: how soon a dead worker's share moves."
    )
    commit_interval_s: float = Field(
        1.0, gt=0, description="Checkpoint (one Kafka transaction) at least this often."
    )
    transaction_timeout_s: float = Field(
        10.0, ge=1, description="A crashed instance's open transaction is aborted after this."
    )
    state_dir: Path | None = Field(
        None, description="RocksDB state; None: <data_dir>/drift/state (restored if lost)."
    )


class DriftProcessSettings(CoreSettings):
    """The settings the drift stream app is built with."""

    drift: DriftSettings = DriftSettings()
