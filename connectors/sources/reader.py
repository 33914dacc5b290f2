"""Reading one source through OpenCV's FFmpeg backend: open with timeouts, sample to the target
rate, resize keeping the aspect ratio, encode JPEG.

JPEG encoder: ``cv2.imencode`` (libjpeg-turbo inside opencv-python). Measured on a 640x272 frame
at quality 85 on this machine: cv2 0.27 ms, simplejpeg 0.47-0.77 ms; PyTurboJPEG needs a system
libturbojpeg. So OpenCV it is, with no extra dependency."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from connectors.sources.config import CameraConfig, SourceKind
from vigil.errors import VigilError

_ENV_LOCK = threading.Lock()


class SourceError(VigilError, RuntimeError):
    """The source could not be opened or stopped delivering frames."""


_HW = {
    "none": cv2.VIDEO_ACCELERATION_NONE,
    "any": cv2.VIDEO_ACCELERATION_ANY,
    "vaapi": cv2.VIDEO_ACCELERATION_VAAPI,
    "d3d11": cv2.VIDEO_ACCELERATION_D3D11,
    "mfx": cv2.VIDEO_ACCELERATION_MFX,
}


FFMPEG_OPTIONS = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


def capture_options(cfg: CameraConfig) -> str:
    """``OPENCV_FFMPEG_CAPTURE_OPTIONS`` for ``cfg``: ``key;value`` pairs joined by ``|``.
    OpenCV hands them to the demuxer, except its own ``avdiscard`` key, which it sets as the
    decoder's ``skip_frame`` (FFmpeg's own ``skip_frame`` / ``skip_loop_filter`` names never
    reach the decoder through OpenCV: the decoder is opened without the options)."""
    opts = {"rtsp_transport": cfg.rtsp_transport, **cfg.decode.ffmpeg_options}
    if cfg.skip_frames != "none":
        opts["avdiscard"] = cfg.skip_frames
    return "|".join(f"{k};{v}" for k, v in opts.items())


def capture_params(cfg: CameraConfig) -> list[int]:
    """The open parameters: timeouts, decoder threads and hardware decoding."""
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        int(cfg.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        max(100, int(cfg.stall_timeout_s * 1000 / 3)),
    ]
    if isinstance(cfg.location, int):
        return params
    params += [cv2.CAP_PROP_N_THREADS, cfg.decode.threads]
    if cfg.decode.hw_acceleration != "none":
        params += [cv2.CAP_PROP_HW_ACCELERATION, _HW[cfg.decode.hw_acceleration]]
    if cfg.decode.hw_device is not None:
        params += [cv2.CAP_PROP_HW_DEVICE, cfg.decode.hw_device]
    return params


def open_capture(cfg: CameraConfig) -> cv2.VideoCapture:
    """Open ``cfg``'s source; a stream silent for ``stall_timeout_s`` surfaces as a failed
    read instead of a thread blocked forever. OpenCV's FFmpeg backend lets the read timeout fire
    three times before ``grab()`` gives up (measured: a 1 s timeout fails after ~3 s on a
    SIGSTOPped RTSP server), hence a third of the stall timeout per read.

    FFmpeg options reach OpenCV only through a process-wide environment variable read while
    the capture opens: it is set, the capture opened and the variable restored under one lock,
    so cameras opening in their threads at the same time each get their own options (OpenCV
    serializes FFmpeg opens anyway) and no other capture in the process inherits them (a
    camera's ``skip_frames: nonref`` once made a later decode of a whole file drop frames).
    Reading is not serialized."""
    params = capture_params(cfg)
    location = cfg.location
    if isinstance(location, int):
        cap = cv2.VideoCapture(location, cv2.CAP_ANY, params)
    else:
        with _ENV_LOCK:
            before = os.environ.get(FFMPEG_OPTIONS)
            os.environ[FFMPEG_OPTIONS] = capture_options(cfg)
            try:
                cap = cv2.VideoCapture(location, cv2.CAP_FFMPEG, params)
            finally:  # no other capture of the process (a file decoded elsewhere) inherits them
                if before is None:
                    os.environ.pop(FFMPEG_OPTIONS, None)
                else:
                    os.environ[FFMPEG_OPTIONS] = before
    if not cap.isOpened():
        cap.release()
        why = f"cannot open {cfg.source_kind.value} source of camera {cfg.id}"
        if cfg.decode.hw_acceleration not in ("none", "any"):
            why += (
                f" (decode.hw_acceleration {cfg.decode.hw_acceleration}: this OpenCV may be "
                "built without it; 'any' falls back to software decoding)"
            )
        raise SourceError(why)
    return cap


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size within the limits with the same aspect ratio (never upscaled)."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def encode(image: np.ndarray[Any, Any], cfg: CameraConfig) -> tuple[bytes, int, int]:
    """Resize to the camera's limits and JPEG-encode; (jpeg, width, height)."""
    h, w = image.shape[:2]
    nw, nh = fit_size(w, h, cfg.max_width, cfg.max_height)
    if (nw, nh) != (w, h):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
    if not ok:
        raise SourceError("JPEG encoding failed")
    return buf.tobytes(), nw, nh


@dataclass
class Sampler:
    """Decides which frames to keep for the target rate: by stream time for files (so the
    result does not depend on how fast we read), by the monotonic clock for live sources."""

    interval_ms: float
    next_due_ms: float | None = None

    @classmethod
    def for_fps(cls, fps: float) -> Sampler:
        return cls(1000.0 / fps)

    def due(self, t_ms: float) -> bool:
        if self.next_due_ms is None:
            self.next_due_ms = t_ms
        # a small tolerance absorbs container timestamps rounded to whole milliseconds
        if t_ms + 0.5 < self.next_due_ms:
            return False
        self.next_due_ms += self.interval_ms
        if self.next_due_ms <= t_ms:  # fell behind (a live stall): do not burst to catch up
            self.next_due_ms = t_ms + self.interval_ms
        return True


def is_live(cfg: CameraConfig) -> bool:
    return cfg.source_kind is not SourceKind.FILE
