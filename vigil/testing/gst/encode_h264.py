"""Encodes raw I420 frames read from stdin into an MP4 with GStreamer's x264enc (Debian's
``gstreamer1.0-plugins-ugly``), with a camera-like fixed GOP: a keyframe every ``GOP`` frames,
``BFRAMES`` non-reference B-frames between P-frames (no B-pyramid), constant bitrate, one
encoder thread so the same input gives the same bytes.
Usage: ``encode_h264.py WIDTH HEIGHT FPS GOP BFRAMES KBPS OUT.mp4``.

Run by ``/usr/bin/python3`` (gi lives there), never imported: this folder is not a package."""

from __future__ import annotations

import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def main() -> None:
    width, height, fps, gop, bframes, kbps = (int(a) for a in sys.argv[1:7])
    out = sys.argv[7]
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"fdsrc fd=0 blocksize={width * height * 3 // 2} "
        f"! rawvideoparse format=i420 width={width} height={height} framerate={fps}/1 "
        f"! x264enc speed-preset=veryfast threads=1 key-int-max={gop} bframes={bframes} "
        f"b-adapt=false b-pyramid=false bitrate={kbps} "
        f"! video/x-h264,profile={'main' if bframes else 'baseline'} "
        f'! h264parse ! mp4mux ! filesink location="{out}"'
    )
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is not None and msg.type == Gst.MessageType.ERROR:
        err, debug = msg.parse_error()
        sys.exit(f"encode_h264: {err.message} ({debug})")


if __name__ == "__main__":
    main()
