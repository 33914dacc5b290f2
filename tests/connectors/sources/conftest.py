"""A live RTSP camera on loopback (GStreamer's RTSP server): skipped where the system packages
are missing, a failure in CI (``scripts/system-deps.sh`` installs them there)."""

from __future__ import annotations

import pytest

from tests.conftest import IN_CI
from vigil.testing import bikes_mp4, free_port
from vigil.testing.rtsp import RtspServer, gst_rtsp_available, h264_clip, x264_available


def _require(available: bool, what: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"CI must run the RTSP tests ({what}): bash scripts/system-deps.sh")
    pytest.skip(f"needs {what} (scripts/system-deps.sh)")


@pytest.fixture
def rtsp_server() -> RtspServer:
    """bikes.mp4 at ``/stream`` (not started)."""
    _require(gst_rtsp_available(), "gir1.2-gst-rtsp-server-1.0 and python3-gi")
    return RtspServer(free_port(), bikes_mp4())


@pytest.fixture
def camera_stream() -> RtspServer:
    """A camera-like 640x360 H.264 stream at 25 fps (keyframe every 2 s, B-frames) at
    ``/stream`` (not started)."""
    _require(gst_rtsp_available(), "gir1.2-gst-rtsp-server-1.0 and python3-gi")
    _require(x264_available(), "gstreamer1.0-plugins-ugly (x264enc)")
    return RtspServer(free_port(), h264_clip(640, 360, seconds=20))
