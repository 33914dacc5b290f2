"""The settings of ``streams.alerting``: its sections of the settings file, and the settings
a process of it is built with."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from vigil.sections import Section
from vigil.settings import CoreSettings


class AlertingSettings(Section):
    """The alerting stream (``vigil alerts``) and the POI watch-list (``vigil poi``)."""

    _retired: ClassVar[dict[str, str]] = {
        "stall_s": "removed: the stall guard of the faust runtime is gone (Quix Streams, "
        "exactly-once, needs none)",
        "processing_guarantee": "removed: the alerting stream is always exactly-once",
    }

    app_name: str = Field(
        "alerting",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="consumer group <topics.prefix>-<app_name>, also names its changelog",
    )
    commit_interval_s: float = Field(
        0.1,
        gt=0,
        description="checkpoint (one Kafka transaction) at least this often: alerts become "
        "visible to read_committed readers when it commits",
    )
    transaction_timeout_s: float = Field(
        10.0, ge=1, description="a crashed instance's open transaction is aborted after this"
    )
    session_timeout_s: float = Field(
        10.0, ge=6, description="a crashed worker's partitions move after this long"
    )
    state_dir: Path | None = Field(
        None, description="RocksDB state; None: <data_dir>/alerting/state (restored if lost)"
    )
    rules_poll_s: float = Field(1.0, gt=0, description="how often the rules file is checked")
    audit_log: Path | None = Field(None, description="None: <data_dir>/alerting/poi-audit.jsonl")
    watchlist_timeout_s: float = Field(60.0, gt=0, description="catch-up on vigil.poi at start")
    deliver: bool = Field(True, description="run the webhook/log delivery in `vigil alerts`")
    log_pseudonym_key: SecretStr | None = Field(
        None,
        description="keys the pseudonyms that stand for person ids in log lines; None: random "
        "per process (pseudonyms then link lines of one run only)",
    )


class AlertingProcessSettings(CoreSettings):
    """The settings the alerting stream app and its delivery are built with."""

    alerting: AlertingSettings = AlertingSettings()
