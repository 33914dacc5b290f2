"""The settings sections of the base: one frozen model per concern, each forbidding unknown
keys. ``vigil.settings.CoreSettings`` holds one of each; each component keeps its own sections
beside its code (``gpu_workers/settings.py``, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Every Vigil consumer reads only committed records; neither settings nor code may undo it.
ISOLATION = "isolation.level"
READ_COMMITTED = "read_committed"


class Section(BaseModel):
    """Unknown keys are errors; a retired key's error says what replaced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _retired: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _no_retired_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, why in cls._retired.items():
                if key in data:
                    raise ValueError(f"{key!r} {why}")
        return data


class KafkaSettings(Section):
    """Client options for any Apache Kafka cluster; the local stack's broker by default."""

    bootstrap_servers: str = "127.0.0.1:19092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    client_options: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Passed verbatim to librdkafka (confluent-kafka) for every client.",
    )

    @field_validator("client_options")
    @classmethod
    def _keep_read_committed(
        cls, options: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        value = options.get(ISOLATION, READ_COMMITTED)
        if value != READ_COMMITTED:
            raise ValueError(
                f"{ISOLATION}={value!r} is refused: every Vigil consumer reads {READ_COMMITTED} "
                "(an aborted transaction must never be seen); remove the option"
            )
        return options

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, "
                "sasl_username and sasl_password"
            )
        if self.sasl_mechanism and not sasl:
            raise ValueError("sasl_mechanism is set but security_protocol is not SASL_*")
        return self

    def client_config(self) -> dict[str, Any]:
        """The librdkafka options shared by producers, consumers and admin clients."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username
            conf["sasl.password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else ""
            )
        optional_paths = {
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        conf.update({k: str(v) for k, v in optional_paths.items() if v is not None})
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        conf.update(self.client_options)
        return conf


class TopicSettings(Section):
    """Names (``<prefix>.frames`` ...), layout and retention of Vigil's topics."""

    _retired = {"dlq_retention_days": "was replaced by dlq_retention_hours (default 72)"}

    prefix: str = Field("vigil", pattern=r"^[A-Za-z0-9._-]+$")
    replication_factor: int = Field(
        0,
        ge=0,
        description="0: 3 (and min.insync.replicas 2) when the cluster has at least three "
        "brokers, else 1.",
    )
    frames_partitions: int = Field(4, ge=1)
    detections_partitions: int = Field(4, ge=1)
    alerts_partitions: int = Field(2, ge=1)
    drift_partitions: int = Field(1, ge=1)
    poi_partitions: int = Field(1, ge=1)
    dlq_partitions: int = Field(1, ge=1)
    samples_partitions: int = Field(1, ge=1)
    frames_retention_hours: float = Field(
        72.0, gt=0, description="retention.ms of vigil.frames: images are personal data."
    )
    detections_retention_hours: float = Field(
        72.0, gt=0, description="retention.ms of vigil.detections: face embeddings."
    )
    alerts_retention_hours: float = Field(
        72.0, gt=0, description="retention.ms of vigil.alerts: they name persons of interest."
    )
    dlq_retention_hours: float = Field(
        72.0,
        gt=0,
        description="retention.ms of vigil.dlq: it keeps original records, image bytes included "
        "(Kafka has no per-record retention, so the whole topic's).",
    )
    samples_retention_hours: float = Field(
        72.0, gt=0, description="retention.ms of vigil.samples: they name frames and carry boxes."
    )
    personal_segment_hours: float = Field(
        6.0,
        gt=0,
        description="segment.ms cap of the personal topics: Kafka deletes whole closed "
        "segments, so a record lives at most retention + this (+ the broker's check interval).",
    )
    poi_erasure_minutes: float = Field(
        60.0,
        gt=0,
        description="Bound on how long an embedding stays readable on vigil.poi after its "
        "tombstone (sets segment.ms and max.compaction.lag.ms to half of it).",
    )
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)


class StackSettings(Section):
    """The local stack that ``vigil stack up`` runs on loopback."""

    kafka_version: str = "4.3.1"
    kafka_brokers: int = Field(
        1,
        ge=1,
        le=5,
        description="1: one node; 3: a replicated cluster (node i on kafka_port + 2(i-1)).",
    )
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap_mb: int = Field(512, ge=128)
    clickhouse_tcp_port: int = Field(19000, ge=1, le=65535)
    clickhouse_http_port: int = Field(18123, ge=1, le=65535)
    start_timeout_s: float = Field(90.0, gt=0)
    stop_timeout_s: float = Field(30.0, gt=0)


class ClickHouseSettings(Section):
    """Where analytics live: empty ``url`` means embedded chDB under the data directory."""

    url: str = Field("", description="clickhouse://user:password@host:9000/database, or empty")
    database: str = Field("vigil", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    cluster: str = Field(
        "",
        pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
        description="A remote_servers cluster: migrations run ON CLUSTER, on Replicated tables "
        "with Distributed <table>_all fronts (README, 'ClickHouse on a cluster'); empty: one "
        "server.",
    )
    replica_path: str = Field(
        "/clickhouse/tables/{shard}/{database}/{table}",
        description="Keeper path of each replicated table; {database} and {table} are filled by "
        "Vigil, {shard} and any other macro by each server's <macros>.",
    )
    replica_name: str = Field("{replica}", description="Replica name (a server macro).")

    @model_validator(mode="after")
    def _cluster_needs_a_server(self) -> ClickHouseSettings:
        if self.cluster and not self.url:
            raise ValueError(
                "clickhouse.cluster needs clickhouse.url: embedded chDB is one server "
                "(set the URL of one of the cluster's servers, or unset the cluster)"
            )
        if self.cluster and "{table}" not in self.replica_path:
            raise ValueError(
                "clickhouse.replica_path must contain {table} (and should contain {database}): "
                "each replicated table needs a Keeper path of its own"
            )
        return self


class IngestSettings(Section):
    """Camera ingest and the upload API (``vigil ingest``, ``vigil api``)."""

    _retired = {
        "api_keys": "moved: upload keys are access.ingest_keys, dashboard viewers' keys "
        "access.viewer_keys (VIGIL_ACCESS__INGEST_KEYS, VIGIL_ACCESS__VIEWER_KEYS)",
    }

    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_upload_pixels: int = Field(50_000_000, ge=1)
    upload_jpeg_quality: int = Field(90, ge=1, le=100)
    inline_image_bytes: int = Field(
        900 * 1024, ge=1, description="Larger JPEGs go to the blob store (claim check)."
    )
    blob_dir: Path | None = Field(None, description="None: <data_dir>/blobs.")
    blob_retention_hours: float = Field(
        72.0, gt=0, description="Claim-check images older than this are deleted (blob GC)."
    )
    blob_gc_interval_s: float = Field(
        600.0, ge=0, description="How often `vigil api` runs the blob GC; 0: never."
    )
    ack_timeout_s: float = Field(30.0, gt=0)
    uploads_per_s: float = Field(
        20.0, gt=0, description="Per key: sustained uploads (frames and POI enrolments)."
    )
    upload_burst: int = Field(40, ge=1, description="Per key: uploads allowed at once.")
    max_decodes: int = Field(
        4, ge=1, description="Images decoded at once by the API; more wait, then get a 503."
    )
    decode_wait_s: float = Field(
        2.0, ge=0, description="How long an upload waits for a decode slot before its 503."
    )
