"""The settings of ``gpu_workers``: its sections of the settings file, and the settings
a process of it is built with."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from schemas.types import SourceKind
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


class TorchEngineSettings(Section):
    """torch (the ``gpu`` extra) for hosts without TensorRT: the same ONNX converted to a torch
    module (onnx2torch), run on a CUDA GPU with pinned host memory and CUDA graphs, FP16 where
    every output stays within the FP16 tolerance of FP32."""

    kind: Literal["torch"] = "torch"
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$",
        description="auto: the first CUDA GPU torch sees, else the CPU (tests, dry runs).",
    )
    fp16: bool = Field(
        True, description="FP16 only where a probe batch's outputs stay within tolerance."
    )
    cuda_graphs: bool = Field(True, description="One CUDA graph per batch size (CUDA only).")


Point = tuple[float, float]  # normalized (x, y): 0..1 of the frame's width and height
# Live sources: frames of a fixed camera, where a still scene repeats. Uploads are single
# images, replays run a model on every frame, synthetic and unknown frames are not gated.
LIVE_KINDS: tuple[SourceKind, ...] = ("CAMERA", "FILE", "RTSP", "HTTP_STREAM")


def _check_masks(masks: tuple[tuple[Point, ...], ...]) -> tuple[tuple[Point, ...], ...]:
    for polygon in masks:
        if len(polygon) < 3:
            raise ValueError(f"a mask polygon needs at least 3 points, got {len(polygon)}")
        for x, y in polygon:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"mask point ({x}, {y}) is outside the frame (0..1 normalized)")
    return masks


class MotionCameraSettings(Section):
    """One camera's motion gate; a field left unset takes the section's value."""

    enabled: bool | None = Field(None, description="False: this camera is never gated.")
    threshold: int | None = Field(None, ge=1, le=255)
    min_area: float | None = Field(None, ge=0, le=1)
    max_skip_s: float | None = Field(None, ge=0)
    masks: tuple[tuple[Point, ...], ...] = Field(
        (), description="Polygons (normalized x, y) whose pixels never count as motion."
    )

    _masks = field_validator("masks")(_check_masks)


class MotionSettings(Section):
    """Motion-gated detection: a frame of a live camera without motion since the background
    is not run through the detector; its event carries the camera's last detections
    (``carried_from``). A full detection runs on any motion and every ``max_skip_s``."""

    enabled: bool = Field(True, description="False: no camera is gated (overrides cameras).")
    source_kinds: tuple[SourceKind, ...] = Field(
        LIVE_KINDS, description="FrameEvent source kinds that are gated (never UPLOAD, REPLAY)."
    )
    threshold: int = Field(25, ge=1, le=255, description="Grey-level change of a moved pixel.")
    min_area: float = Field(
        0.002, ge=0, le=1, description="Fraction of (unmasked) pixels that must move."
    )
    max_skip_s: float = Field(2.0, ge=0, description="Forced detection after this capture time.")
    width: int = Field(160, ge=16, le=1920, description="Width of the grey copy compared.")
    learning_rate: float = Field(
        0.05, gt=0, le=1, description="Running-average background: weight of each new frame."
    )
    cameras: dict[str, MotionCameraSettings] = Field(
        default_factory=dict, description="Per camera id: overrides and mask polygons."
    )

    @field_validator("source_kinds")
    @classmethod
    def _never_replays(cls, kinds: tuple[SourceKind, ...]) -> tuple[SourceKind, ...]:
        if "REPLAY" in kinds:
            raise ValueError("REPLAY is never gated: a replay runs its model on every frame")
        return kinds


class WorkerSettings(Section):
    """The inference workers (``vigil worker``): batching, limits, backpressure, engine."""

    group_id: str = "vigil-workers"
    instance_id: str = Field(
        "", description="Stable per worker process (transactional.id); empty: the host name."
    )
    engine: OnnxRuntimeEngineSettings | TensorRtEngineSettings | TorchEngineSettings = Field(
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
    preprocess: Literal["auto", "cpu", "torch"] = Field(
        "auto",
        description="torch: decode JPEGs (nvJPEG on a GPU), resize, normalise and compute image "
        "statistics as batched tensors on the engine's device; cpu: OpenCV in the decode pool; "
        "auto: torch when the engine runs on a CUDA GPU, else cpu.",
    )
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
    motion: MotionSettings = Field(default_factory=MotionSettings)


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
