"""A real RTSP server on loopback for the reconnect tests: GStreamer's gst-rtsp-server (Debian's
``gir1.2-gst-rtsp-server-1.0`` + ``python3-gi``), run by the system Python, streaming an MP4's
H.264 track without re-encoding (each client from the start).
Usage: ``rtsp_server.py PORT FILE``; serves ``rtsp://127.0.0.1:PORT/stream`` until SIGTERM."""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, path = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory("/stream", factory)
    server.attach(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"rtsp://127.0.0.1:{port}/stream", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
