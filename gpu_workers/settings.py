"""The settings of ``gpu_workers``: its sections of the settings file, and the settings
a process of it is built with."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from vigil.sections import Section
from vigil.settings import CoreSettings


class ModelSettings(Section):
    """Which prepared models the workers and ``vigil detect`` run, and their CPU budget."""

    detector: str = Field("ssd_mobilenet_v2_coco", description="zoo name or spec YAML path")
    face_detector: str = Field("centerface", description="zoo name or spec YAML path")
    embedder: str = Field("faceres", description="zoo name or spec YAML path")
    threads: int = Field(2, ge=1, description="ONNX Runtime intra-op threads per model")
    max_batch: int = Field(8, ge=1)
    min_face_px: int = Field(20, ge=1, description="face cascade: smaller faces are rejected")
    min_sharpness: float = Field(5.0, ge=0, description="face cascade: Laplacian variance")


class OnnxRuntimeEngineSettings(Section):
    """ONNX Runtime: CPU by default; CUDA / TensorRT execution providers when installed."""

    kind: Literal["onnxruntime"] = "onnxruntime"
    providers: tuple[str, ...] = Field(
        (), description="Empty: TensorRT/CUDA providers when present, then CPU."
    )
    spinning: bool = Field(
        False, description="Intra-op threads spin-wait; off: the cores are shared with decoding."
    )


class TensorRtEngineSettings(Section):
    """TensorRT on an NVIDIA GPU (the ``gpu`` extra): engines built from the ONNX and cached."""

    kind: Literal["tensorrt"] = "tensorrt"
    fp16: bool = Field(True, description="Used only when the GPU has fast FP16.")
    opt_batch: int | None = Field(None, ge=1, description="None: half the max batch.")
    workspace_mib: int = Field(1024, ge=64)
    engine_dir: Path | None = Field(None, description="None: <cache_dir>/trt.")


class WorkerSettings(Section):
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
    adaptive_batching: bool = Field(
        True,
        description="A batch closes as soon as no further frame is waiting: never wait while "
        "the engine is idle (batches grow while it is busy; max_wait_ms caps the rest).",
    )
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
        100.0,
        ge=0,
        description="Through a backlog (a full batch queued), a transaction spans batches up "
        "to this age; otherwise every batch commits, overlapped with the next one's inference.",
    )


class ReplaySettings(Section):
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


class GpuWorkersSettings(CoreSettings):
    """The settings an inference worker, replay or ``vigil detect`` is built with."""

    models: ModelSettings = ModelSettings()
    worker: WorkerSettings = WorkerSettings()
    replay: ReplaySettings = ReplaySettings()
