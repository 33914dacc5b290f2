"""The settings of ``lifecycle``: the ``retrain`` section and the settings its process is built
with."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from vigil.registry import Role
from vigil.sections import Section
from vigil.settings import CoreSettings


class RetrainTriggers(Section):
    """When ``vigil retrain watch`` runs the command; a trigger left None never fires. Each
    counts what happened since the last run (or since the watch started, for the first)."""

    drift_alarms: int | None = Field(
        3, ge=1, description="Drift alarms (alerts drift:*) of the production model since."
    )
    accuracy_below: float | None = Field(
        None, ge=0, le=1, description="The production model's latest daily mAP@0.5 under this."
    )
    new_labels: int | None = Field(None, ge=1, description="Labelled frames imported since.")


class RetrainSettings(Section):
    """Retraining: a command of yours (any trainer; e.g. ``yolo train ... && yolo export
    format=onnx``) run with the exported dataset, whose ONNX becomes a candidate that is
    replayed, evaluated against production and promoted through the gate."""

    command: str = Field(
        "",
        description="Run through the shell; {dataset} (the exported COCO folder), {output} "
        "(a fresh folder for model.onnx, optionally spec.yaml), {model}, {version} are "
        "substituted. Empty: retraining is off.",
    )
    timeout_s: float = Field(3600.0, gt=0, description="The command is killed after this.")
    role: Role = "detector"
    dataset: str = Field("default", pattern=r"^[A-Za-z0-9._-]+$")
    replay_hours: float = Field(
        6.0, gt=0, description="The candidate is replayed over this many hours of frames."
    )
    cameras: tuple[str, ...] = Field((), description="Replay only these cameras; empty: all.")
    auto_promote: bool = Field(
        False, description="Promote a candidate that passes the gate; off: an alert says so."
    )
    rules: Path | None = Field(None, description="Alerting rules the evaluation scores alerts by.")
    triggers: RetrainTriggers = Field(default_factory=RetrainTriggers)
    check_interval_s: float = Field(60.0, gt=0, description="How often watch checks triggers.")
    work_dir: Path | None = Field(None, description="None: <data_dir>/retrain.")

    @model_validator(mode="after")
    def _placeholders(self) -> RetrainSettings:
        if self.command and "{output}" not in self.command:
            raise ValueError("command: it must write its model into {output}")
        return self


class LifecycleProcessSettings(CoreSettings):
    """The settings ``vigil retrain`` is built with (with the components' it composes)."""

    retrain: RetrainSettings = RetrainSettings()
