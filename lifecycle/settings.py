"""The ``retrain`` section: what command trains a model, when it runs, and what happens to the
model it produces."""

from __future__ import annotations

from pydantic import Field

from connectors.sinks.dataset.settings import DatasetProcessSettings
from evaluation.settings import AccuracyProcessSettings, CandidateProcessSettings
from vigil.sections import Section


class RetrainTriggers(Section):
    """When a retraining run is due; any one trigger is enough, ``None`` turns it off. Counts
    are since the last run (or ``lookback_h`` ago, whichever is later)."""

    drift_alarms: int | None = Field(
        3, ge=1, description="Drift alarms on production's detections (vigil.drift), at least."
    )
    accuracy_below: float | None = Field(
        None, ge=0, le=1, description="Production's latest mAP@0.5 (vigil accuracy) below this."
    )
    new_labels: int | None = Field(
        None, ge=1, description="Frames labelled (vigil dataset import), at least."
    )
    lookback_h: float = Field(24.0, gt=0)


class RetrainSettings(Section):
    """The retraining loop (``vigil retrain run|watch``).

    ``command`` is run by the shell with these placeholders (each shell-quoted), also given as
    the variables ``VIGIL_DATASET``, ``VIGIL_OUTPUT``, ``VIGIL_PRODUCTION_SPEC``, ``VIGIL_RUN``:

    - ``{dataset}``: the COCO export (``annotations/instances_default.json``, ``images/``);
    - ``{output}``: where it writes ``model.onnx`` (and, if it likes, a ``spec.yaml``);
    - ``{production_spec}``: the production model's spec; ``{run}``: the run's id.

    Example: ``yolo train data={dataset}/data.yaml model=yolo11n.pt && yolo export
    format=onnx && cp runs/detect/train/weights/best.onnx {output}/model.onnx``. Without a
    ``spec.yaml`` the new model gets production's spec under a version of its own."""

    command: str | None = Field(None, description="None: retraining is off.")
    timeout_s: float = Field(3600.0, gt=0, description="The command is killed after this.")
    role: str = "detector"
    triggers: RetrainTriggers = RetrainTriggers()
    replay_hours: float = Field(6.0, gt=0, description="Frames replayed through the candidate.")
    cameras: list[str] = Field(default_factory=list, description="Replayed cameras (all: []).")
    auto_promote: bool = Field(
        False, description="Promote a candidate that passes the gate; else leave it registered."
    )
    min_interval_h: float = Field(6.0, ge=0, description="Runs are at least this far apart.")
    check_interval_s: float = Field(300.0, gt=0, description="vigil retrain watch: how often.")
    keep_runs: int = Field(10, ge=1, description="Run folders kept under data_dir/retrain.")


class RetrainProcessSettings(
    CandidateProcessSettings, DatasetProcessSettings, AccuracyProcessSettings
):
    """The settings ``vigil retrain`` is built with."""

    retrain: RetrainSettings = RetrainSettings()
