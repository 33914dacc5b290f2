"""A real RTSP server on loopback for the camera tests and benches: GStreamer's gst-rtsp-server
(Debian's ``gir1.2-gst-rtsp-server-1.0`` + ``python3-gi``), run by the system Python, streaming
MP4s' H.264 tracks without re-encoding (each client from the start, paced at stream speed).
Usage: ``rtsp_server.py PORT FILE`` serves ``rtsp://127.0.0.1:PORT/stream``;
``rtsp_server.py PORT MOUNT=FILE ...`` serves each file at ``/MOUNT``; until SIGTERM.

Run by ``/usr/bin/python3`` (gi lives there), never imported: this folder is not a package."""

from __future__ import annotations

import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def mounts(args: list[str]) -> dict[str, str]:
    if len(args) == 1 and "=" not in args[0]:
        return {"stream": args[0]}
    return dict(arg.split("=", 1) for arg in args)


def main() -> None:
    port = sys.argv[1]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    for mount, path in mounts(sys.argv[2:]).items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f'( filesrc location="{path}" ! qtdemux ! h264parse '
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory.set_shared(False)
        server.get_mount_points().add_factory(f"/{mount}", factory)
    server.attach(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    print(f"rtsp://127.0.0.1:{port}/", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
