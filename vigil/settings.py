"""The settings core: one frozen settings object per process, built at start-up.

``CoreSettings`` holds what the base itself reads (Kafka, topics, the local stack, ClickHouse,
ingest and blobs, access, paths, logs); each component extends it with its own sections
(``gpu_workers.settings``, ``streams.alerting.settings``, ...) and the composition root
(``vigil_app.settings.VigilSettings``) assembles them all.

Sources, highest priority first: keyword arguments, ``VIGIL_*`` environment variables
(nested with ``__``, e.g. ``VIGIL_KAFKA__BOOTSTRAP_SERVERS``), then the YAML file named by
``--config`` or ``VIGIL_CONFIG``. Every model forbids unknown keys so a typo is an error.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from vigil.sections import (
    ClickHouseSettings,
    IngestSettings,
    KafkaSettings,
    StackSettings,
    TopicSettings,
)
from vigil.sections_access import AccessSettings

__all__ = [
    "AccessSettings",
    "ClickHouseSettings",
    "ConfigError",
    "CoreSettings",
    "IngestSettings",
    "KafkaSettings",
    "StackSettings",
    "TopicSettings",
    "build_settings",
]

S = TypeVar("S", bound="CoreSettings")
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("vigil_config_file", default=None)


class ConfigError(ValueError):
    """Settings that cannot be used, with the offending key named."""


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "vigil"


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vigil"


class CoreSettings(BaseSettings):
    """What every Vigil process is configured with; components add their sections."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    stack: StackSettings = StackSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    ingest: IngestSettings = IngestSettings()
    access: AccessSettings = AccessSettings()
    schema_registry_url: str = Field("", description="Empty: Avro single-object encoding.")
    schema_registry_basic_auth: SecretStr | None = Field(None, description="user:password")
    data_dir: Path = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    metrics_port: int | None = Field(None, ge=0, le=65535, description="None: no /metrics.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _CONFIG_FILE.get()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def build_settings(cls: type[S], config_file: Path | str | None = None, **overrides: Any) -> S:
    """Build a process's settings of class ``cls``; errors name the offending key and file."""
    raw = config_file or os.environ.get("VIGIL_CONFIG") or None
    path = Path(raw).expanduser() if raw else None
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    token = _CONFIG_FILE.set(path)
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None
    finally:
        _CONFIG_FILE.reset(token)


def _explain(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {key!r}{where}")
        else:
            lines.append(f"invalid setting {key!r}{where}: {err['msg']}")
    return "; ".join(lines)
