"""The full settings object: the core and every component's sections, assembled here and
nowhere else. Sources, highest priority first: keyword arguments, ``VIGIL_*`` environment
variables (nested with ``__``), then the YAML file named by ``--config`` or ``VIGIL_CONFIG``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.sinks.clickhouse.settings import ClickHouseSinkSettings, SinkProcessSettings
from connectors.sinks.dataset.settings import DatasetProcessSettings, DatasetSettings
from dashboards.web.settings import DashboardProcessSettings, DashboardSettings
from evaluation.candidate_run import candidates_settings
from evaluation.settings import AccuracyProcessSettings, AccuracySettings, PromotionSettings
from gpu_workers.settings import (
    GpuWorkersSettings,
    ModelSettings,
    OnnxRuntimeEngineSettings,
    ReplaySettings,
    TensorRtEngineSettings,
    WorkerSettings,
)
from lifecycle.settings import RetrainProcessSettings, RetrainSettings
from streams.alerting.settings import AlertingProcessSettings, AlertingSettings
from streams.drift.settings import DriftProcessSettings, DriftSettings
from streams.sampling.settings import SamplingProcessSettings, SamplingSettings
from vigil.settings import (
    AccessSettings,
    ClickHouseSettings,
    ConfigError,
    CoreSettings,
    IngestSettings,
    KafkaSettings,
    StackSettings,
    TopicSettings,
    build_settings,
)

__all__ = [
    "AccessSettings",
    "AccuracySettings",
    "AlertingSettings",
    "ClickHouseSettings",
    "ClickHouseSinkSettings",
    "ConfigError",
    "CoreSettings",
    "DashboardSettings",
    "DatasetSettings",
    "DriftSettings",
    "IngestSettings",
    "KafkaSettings",
    "ModelSettings",
    "OnnxRuntimeEngineSettings",
    "PromotionSettings",
    "ReplaySettings",
    "RetrainSettings",
    "SamplingSettings",
    "StackSettings",
    "TensorRtEngineSettings",
    "TopicSettings",
    "VigilSettings",
    "WorkerSettings",
    "candidates_settings",
    "load_settings",
]


class VigilSettings(
    RetrainProcessSettings,  # a GpuWorkers, Sink, Dataset and Accuracy ProcessSettings
    GpuWorkersSettings,
    SinkProcessSettings,
    DriftProcessSettings,
    AlertingProcessSettings,
    DashboardProcessSettings,
    SamplingProcessSettings,
    DatasetProcessSettings,
    AccuracyProcessSettings,
):
    """Everything a Vigil process is configured with: every component's settings at once."""


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> VigilSettings:
    """Build the process's settings; errors name the offending key and file."""
    return build_settings(VigilSettings, config_file, **overrides)
