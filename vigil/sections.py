"""The settings sections: one frozen model per component, each forbidding unknown keys.

``vigil.settings.VigilSettings`` holds one of each; import them from ``vigil.settings``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Every Vigil consumer reads only committed records; neither settings nor code may undo it.
ISOLATION = "isolation.level"
READ_COMMITTED = "read_committed"


class _Section(BaseModel):
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


class KafkaSettings(_Section):
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


class TopicSettings(_Section):
    """Names (``<prefix>.frames`` ...), layout and retention of Vigil's topics."""

    _retired = {"dlq_retention_days": "was replaced by dlq_retention_hours (default 72)"}

    prefix: str = Field("vigil", pattern=r"^[A-Za-z0-9._-]+$")
    replication_factor: int = Field(1, ge=1)
    frames_partitions: int = Field(4, ge=1)
    detections_partitions: int = Field(4, ge=1)
    alerts_partitions: int = Field(2, ge=1)
    drift_partitions: int = Field(1, ge=1)
    poi_partitions: int = Field(1, ge=1)
    dlq_partitions: int = Field(1, ge=1)
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


class StackSettings(_Section):
    """The local stack that ``vigil stack up`` runs on loopback."""

    kafka_version: str = "4.3.1"
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap_mb: int = Field(512, ge=128)
    clickhouse_tcp_port: int = Field(19000, ge=1, le=65535)
    clickhouse_http_port: int = Field(18123, ge=1, le=65535)
    start_timeout_s: float = Field(90.0, gt=0)
    stop_timeout_s: float = Field(30.0, gt=0)


class ClickHouseSettings(_Section):
    """Where analytics live: empty ``url`` means embedded chDB under the data directory."""

    url: str = Field("", description="clickhouse://user:password@host:9000/database, or empty")
    database: str = Field("vigil", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelSettings(_Section):
    """Which prepared models the workers and ``vigil detect`` run, and their CPU budget."""

    detector: str = Field("ssd_mobilenet_v2_coco", description="zoo name or spec YAML path")
    face_detector: str = Field("centerface", description="zoo name or spec YAML path")
    embedder: str = Field("faceres", description="zoo name or spec YAML path")
    threads: int = Field(2, ge=1, description="ONNX Runtime intra-op threads per model")
    max_batch: int = Field(8, ge=1)
    min_face_px: int = Field(20, ge=1, description="face cascade: smaller faces are rejected")
    min_sharpness: float = Field(5.0, ge=0, description="face cascade: Laplacian variance")


class IngestSettings(_Section):
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


class ClickHouseSinkSettings(_Section):
    """``vigil sink clickhouse``: batching, retention and retries of the exactly-once sink."""

    group_id: str = "vigil-clickhouse-sink"
    session_timeout_ms: int = Field(
        45_000, ge=1000, description="How soon the group notices a dead sink (Kafka's default)."
    )
    batch_max_rows: int = Field(10_000, ge=1, description="Flush when this many rows wait.")
    batch_max_s: float = Field(1.0, gt=0, description="Flush at least this often (s).")
    personal_ttl_hours: float = Field(
        72.0, gt=0, description="Per-object detections and alerts (personal data)."
    )
    aggregate_ttl_days: float = Field(395.0, gt=0, description="Frames, drift and rollups.")
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)
    shutdown_timeout_s: float = Field(20.0, gt=0, description="Final flush on SIGTERM.")


class DriftSettings(_Section):
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


class OnnxRuntimeEngineSettings(_Section):
    """ONNX Runtime: CPU by default; CUDA / TensorRT execution providers when installed."""

    kind: Literal["onnxruntime"] = "onnxruntime"
    providers: tuple[str, ...] = Field(
        (), description="Empty: TensorRT/CUDA providers when present, then CPU."
    )
    spinning: bool = Field(
        False, description="Intra-op threads spin-wait; off: the cores are shared with decoding."
    )


class TensorRtEngineSettings(_Section):
    """TensorRT on an NVIDIA GPU (the ``gpu`` extra): engines built from the ONNX and cached."""

    kind: Literal["tensorrt"] = "tensorrt"
    fp16: bool = Field(True, description="Used only when the GPU has fast FP16.")
    opt_batch: int | None = Field(None, ge=1, description="None: half the max batch.")
    workspace_mib: int = Field(1024, ge=64)
    engine_dir: Path | None = Field(None, description="None: <cache_dir>/trt.")


class WorkerSettings(_Section):
    """The inference workers (``vigil worker``): batching, limits, backpressure, engine."""

    group_id: str = "vigil-workers"
    instance_id: str = Field(
        "", description="Stable per worker process (transactional.id); empty: the host name."
    )
    engine: OnnxRuntimeEngineSettings | TensorRtEngineSettings = Field(
        default_factory=OnnxRuntimeEngineSettings, discriminator="kind"
    )
    max_batch: int | None = Field(None, ge=1, description="None: models.max_batch.")
    max_wait_ms: float = Field(20.0, ge=0, description="Oldest frame's wait before a batch closes.")
    decode_threads: int = Field(2, ge=1)
    scaled_decode: bool = Field(True, description="JPEG DCT scaling when the model is small.")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(50_000_000, ge=1)
    face_cameras: tuple[str, ...] = Field(
        (), description="Cameras whose frames also run the face cascade (or tag faces=1)."
    )
    max_pending_frames: int = Field(
        64, ge=1, description="Frames held in the worker; above it partitions are paused."
    )
    queued_max_kbytes: int = Field(8192, ge=1, description="librdkafka prefetch bound per worker.")
    fetch_max_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    session_timeout_ms: int = Field(10_000, ge=1000)
    max_poll_interval_ms: int = Field(120_000, ge=1000)
    transaction_timeout_ms: int = Field(30_000, ge=1000)
    commit_interval_ms: float = Field(
        100.0, ge=0, description="A transaction spans batches up to this age while busy."
    )


class AlertingSettings(_Section):
    """The alerting stream (``vigil alerts``) and the POI watch-list (``vigil poi``)."""

    _retired = {
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


class ReplaySettings(_Section):
    """``vigil replay``, ``vigil worker --shadow`` and ``vigil eval``: candidate models run
    beside production, their detections on topics of their own."""

    candidates_prefix: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="Topic prefix of candidate outputs; empty: '<topics.prefix>.candidates'.",
    )
    group_prefix: str = Field("vigil-replay", description="A fresh group <prefix>-<model>-<id>.")
    shadow_group_prefix: str = Field("vigil-shadow", description="Stable: <prefix>-<model>.")
    clock_skew_ms: int = Field(
        5_000, ge=0, description="Records stamped up to this long before their capture time."
    )
    max_ingest_delay_ms: int = Field(
        60_000, ge=0, description="Capture to Kafka record timestamp; read this far past --to."
    )
    iou: float = Field(0.5, gt=0, le=1, description="eval: IoU for two boxes to match")
