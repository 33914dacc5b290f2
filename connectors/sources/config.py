"""The cameras file (``vigil ingest --cameras cameras.yaml``): user-written YAML, so every model
forbids unknown keys and a typo is an error naming the key, not a silent default."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.types import SourceKind as AvroSourceKind
from vigil.settings import ConfigError


class DropPolicy(enum.StrEnum):
    """What a camera does with a new frame when the broker cannot keep up."""

    DROP_OLDEST = "drop_oldest"  # live: keep the freshest frames, count the dropped ones
    DROP_NEWEST = "drop_newest"  # keep what is queued, drop the frame just captured
    WAIT = "wait"  # files: stop reading until there is room; nothing is dropped


class SourceKind(enum.StrEnum):
    FILE = "file"
    RTSP = "rtsp"
    HTTP_STREAM = "http_stream"
    DEVICE = "device"

    @property
    def live(self) -> bool:
        return self is not SourceKind.FILE

    @property
    def avro_symbol(self) -> AvroSourceKind:
        """The FrameEvent ``source_kind`` symbol."""
        symbols: dict[str, AvroSourceKind] = {
            "file": "FILE",
            "rtsp": "RTSP",
            "http_stream": "HTTP_STREAM",
        }
        return symbols.get(self.value, "CAMERA")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backoff(_Strict):
    """Reconnect delays: exponential from ``initial_s`` up to ``max_s``, with full jitter."""

    initial_s: float = Field(0.5, gt=0)
    max_s: float = Field(30.0, gt=0)
    multiplier: float = Field(2.0, ge=1)


SkipFrames = Literal["none", "nonref", "bidir", "nonintra", "nonkey"]
HwAcceleration = Literal["none", "any", "vaapi", "d3d11", "mfx"]
# keys Vigil sets from other settings, or decoder options that would reach only the demuxer
# (OpenCV opens the decoder without the options) and so do nothing; an option may not carry
# the separators of OpenCV's option string either
_RESERVED_OPTIONS = {
    "avdiscard": "decode.skip_frames",
    "skip_frame": "decode.skip_frames",
    "threads": "decode.threads",
    "rtsp_transport": "rtsp_transport",
}


class Decode(_Strict):
    """How OpenCV's FFmpeg backend decodes a stream or file (not local devices, which V4L2
    reads). Decode only what is needed: at 5 fps of a 25 fps stream, frames the sampler will not
    keep need no decoding when nothing references them.

    - ``skip_frames``: frames the decoder discards without decoding (FFmpeg's ``skip_frame``,
      passed as OpenCV's ``avdiscard``). ``nonref`` skips frames no other frame references
      (typically B-frames; a stream of I and P frames only has none) and never changes the
      picture of a frame kept; ``nonkey`` keeps keyframes only (a keyframe every 2 s gives
      0.5 fps: only for rates at or below the keyframe rate). Default: ``nonref`` for live
      sources, ``none`` for files (a file is read at full fidelity, e.g. for evaluation).
    - ``threads``: decoder threads per camera; 1 when many cameras share the cores (no
      frame-threading latency or extra buffers; measured no dearer in CPU than one per core);
      0: OpenCV's default, one per core up to 16 (for one camera at high resolution).
    - ``hw_acceleration`` / ``hw_device``: decode on the GPU/media engine (VAAPI on Intel/AMD,
      D3D11 or MFX on Windows, ``any``: the first that works) when OpenCV's FFmpeg was built
      with it; frames are copied back to memory for encoding.
    - ``ffmpeg_options``: more FFmpeg demuxer/protocol options (``buffer_size``,
      ``max_delay``, ``fflags`` ...)."""

    skip_frames: SkipFrames | None = None
    threads: int = Field(1, ge=0, le=16)
    hw_acceleration: HwAcceleration = "none"
    hw_device: int | None = Field(None, ge=0)
    ffmpeg_options: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options(self) -> Decode:
        for key, value in self.ffmpeg_options.items():
            if key in _RESERVED_OPTIONS:
                raise ValueError(f"ffmpeg_options.{key}: set {_RESERVED_OPTIONS[key]} instead")
            if any(sep in f"{key}{value}" for sep in ";|"):
                raise ValueError(f"ffmpeg_options.{key}: ';' and '|' are not allowed")
        if self.hw_device is not None and self.hw_acceleration in ("none", "any"):
            raise ValueError("hw_device needs a specific hw_acceleration (vaapi, d3d11, mfx)")
        return self


class CameraConfig(_Strict):
    """One camera: where to read, how often, how large, and what to do under backpressure."""

    id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")
    url: str | None = Field(None, description="rtsp://, http(s):// stream or a file path")
    path: Path | None = Field(None, description="a video file")
    device: int | None = Field(None, ge=0, description="a local capture device index")
    kind: SourceKind | None = Field(None, description="inferred from url/path/device if unset")
    fps: float = Field(5.0, gt=0, le=240, description="target rate; frames are sampled")
    max_width: int = Field(1280, ge=16)
    max_height: int = Field(720, ge=16)
    jpeg_quality: int = Field(85, ge=1, le=100)
    loop: bool = Field(False, description="files: start again at the end")
    realtime: bool = Field(False, description="files: pace reading at stream speed")
    drop_policy: DropPolicy | None = Field(None, description="default: wait for files, else drop")
    buffer_frames: int = Field(8, ge=1, description="frames queued between capture and Kafka")
    max_in_flight: int = Field(64, ge=1, description="frames produced but not yet acknowledged")
    stall_timeout_s: float = Field(10.0, gt=0, description="no frame this long: reconnect")
    open_timeout_s: float = Field(10.0, gt=0)
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    decode: Decode = Decode()
    backoff: Backoff = Backoff()
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> CameraConfig:
        given = [x for x in (self.url, self.path, self.device) if x is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of url, path, device")
        return self

    @property
    def source_kind(self) -> SourceKind:
        if self.kind is not None:
            return self.kind
        if self.device is not None:
            return SourceKind.DEVICE
        if self.path is not None:
            return SourceKind.FILE
        url = (self.url or "").lower()
        if url.startswith(("rtsp://", "rtsps://")):
            return SourceKind.RTSP
        if url.startswith(("http://", "https://")):
            return SourceKind.HTTP_STREAM
        return SourceKind.FILE

    @property
    def policy(self) -> DropPolicy:
        if self.drop_policy is not None:
            return self.drop_policy
        return DropPolicy.DROP_OLDEST if self.source_kind.live else DropPolicy.WAIT

    @property
    def skip_frames(self) -> SkipFrames:
        """What the decoder skips: as configured, else ``nonref`` live and ``none`` for files."""
        if self.decode.skip_frames is not None:
            return self.decode.skip_frames
        return "nonref" if self.source_kind.live else "none"

    @property
    def location(self) -> str | int:
        """What OpenCV opens."""
        if self.device is not None:
            return self.device
        return str(self.path) if self.path is not None else str(self.url)


class CamerasFile(_Strict):
    cameras: list[CameraConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> CamerasFile:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera ids: {dupes}")
        return self


def load_cameras(path: Path) -> dict[str, CameraConfig]:
    """Parse the cameras file; errors name the file and the offending key."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        parsed = CamerasFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read cameras file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cameras file {path} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(root)"
            what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{key}: {what}")
        raise ConfigError(f"cameras file {path}: " + "; ".join(problems)) from None
    return {c.id: c for c in parsed.cameras}
