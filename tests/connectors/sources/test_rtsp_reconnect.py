"""A real RTSP server (GStreamer's gst-rtsp-server) on loopback first stalls (SIGSTOP: the
connection stays open, no packets), then is killed mid-stream and restarted: `vigil ingest`
shows backing_off meanwhile and resumes by itself each time."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from tests.connectors.helpers import IngestProcess, make_topics, read_frames
from tests.connectors.helpers import write_cameras as write
from vigil.testing.rtsp import RtspServer
from vigil_app.settings import VigilSettings


def test_rtsp_server_killed_and_restarted_ingest_recovers(
    settings: VigilSettings, tmp_path: Path, rtsp_server: RtspServer
) -> None:
    make_topics(settings)
    rtsp_server.start()
    cameras = tmp_path / "cameras.yaml"
    write(
        cameras,
        [
            {
                "id": "gate",
                "url": f"rtsp://127.0.0.1:{rtsp_server.port}/stream",
                "fps": 5,
                "stall_timeout_s": 3,
                "open_timeout_s": 3,
                "backoff": {"initial_s": 0.3, "max_s": 1.5},
            }
        ],
    )
    ingest = IngestProcess(settings, cameras)
    try:

        def gate() -> dict[str, Any]:
            return ingest.camera("gate") or {}

        ingest.wait(
            lambda: gate().get("state") == "streaming" and int(gate()["frames_captured"]) >= 5,
            "first frames",
        )
        rtsp_server.pause()
        ingest.wait(lambda: gate().get("state") == "backing_off", "backing_off after the stall")
        stalled_at = int(gate()["frames_captured"])
        rtsp_server.resume()
        ingest.wait(
            lambda: (
                gate().get("state") == "streaming"
                and int(gate()["frames_captured"]) >= stalled_at + 5
            ),
            "frames after the stall",
        )
        rtsp_server.kill()
        ingest.wait(lambda: gate().get("state") == "backing_off", "backing_off after the kill")
        before = int(gate()["frames_captured"])
        assert int(gate()["reconnects"]) >= 1
        time.sleep(2)  # the server stays down through a few reconnect attempts
        assert gate()["state"] in ("backing_off", "connecting")
        assert int(gate()["frames_captured"]) == before
        rtsp_server.start()
        ingest.wait(
            lambda: (
                gate().get("state") == "streaming" and int(gate()["frames_captured"]) >= before + 5
            ),
            "frames after the restart",
        )
        assert gate()["restarts"] == 0  # recovered by reconnecting, not by crashing
    finally:
        rtsp_server.kill()
        code = ingest.stop()
    assert code == 0, ingest.log.read_text()[-3000:]
    captured = int(ingest.camera("gate")["frames_captured"])  # type: ignore[index]
    events = read_frames(settings, expected=captured)
    assert len(events) == captured
    seqs = [e["sequence"] for e in events]
    assert seqs == list(range(captured))  # nothing dropped, in order, across the outage
    assert all(e["source_kind"] == "RTSP" and e["_key"] == b"gate" for e in events)
    stamps = [e["capture_ts_ms"] for e in events]
    assert all(b >= a for a, b in itertools.pairwise(stamps))  # wall clock for live streams
    gap = max(b - a for a, b in itertools.pairwise(stamps))
    assert gap >= 2000  # the outage is visible in capture times
