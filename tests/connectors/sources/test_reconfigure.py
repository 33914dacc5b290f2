"""Runtime reconfiguration of a running `vigil ingest`, and restarts of a crashed reader."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import connectors.sources.camera as camera_module
from connectors.sources.supervisor import Supervisor
from tests.connectors.helpers import (
    IngestProcess,
    camera_finished,
    make_topics,
    read_frames,
    write_cameras,
)
from vigil.testing import bikes_mp4, poll_until
from vigil_app.settings import VigilSettings


def looping(cam_id: str) -> dict[str, Any]:
    return {"id": cam_id, "path": str(bikes_mp4()), "fps": 5, "loop": True, "realtime": True}


def test_camera_added_and_removed_while_ingest_runs(
    settings: VigilSettings, tmp_path: Path
) -> None:
    make_topics(settings)
    cameras = tmp_path / "cameras.yaml"
    write_cameras(cameras, [looping("cam-a")])
    ingest = IngestProcess(settings, cameras)

    def cam(cam_id: str) -> dict[str, Any]:
        return ingest.camera(cam_id) or {}

    try:
        ingest.wait(lambda: cam("cam-a").get("frames_captured", 0) >= 3, "cam-a frames")
        a_started = cam("cam-a")["started_ts_ms"]

        write_cameras(cameras, [looping("cam-a"), looping("cam-b")])
        ingest.wait(lambda: cam("cam-b").get("frames_captured", 0) >= 3, "cam-b added")
        assert cam("cam-a")["started_ts_ms"] == a_started  # the other camera untouched

        write_cameras(cameras, [looping("cam-a")])
        ingest.wait(lambda: not cam("cam-b"), "cam-b removed")
        a_count = cam("cam-a")["frames_captured"]
        ingest.wait(lambda: cam("cam-a")["frames_captured"] >= a_count + 3, "cam-a goes on")
        assert cam("cam-a")["started_ts_ms"] == a_started
        assert cam("cam-a")["restarts"] == 0
    finally:
        code = ingest.stop()
    assert code == 0, ingest.log.read_text()[-3000:]
    final_a = cam("cam-a")["frames_captured"]
    events = read_frames(settings)
    by_cam: dict[str, list[int]] = {}
    for e in events:
        by_cam.setdefault(e["camera_id"], []).append(e["sequence"])
    assert by_cam["cam-a"] == list(range(final_a))  # one uninterrupted run, in order
    assert len(by_cam["cam-b"]) >= 3
    assert by_cam["cam-b"] == list(range(len(by_cam["cam-b"])))


def test_crashed_reader_is_restarted_and_counted(
    settings: VigilSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the encoder raises once; the supervisor restarts the reader."""
    make_topics(settings)
    real_encode = camera_module.encode  # type: ignore[attr-defined]
    calls = {"n": 0}

    def flaky_encode(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected encoder fault")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(camera_module, "encode", flaky_encode)
    cameras = tmp_path / "cameras.yaml"
    write_cameras(cameras, [{"id": "flaky", "path": str(bikes_mp4()), "fps": 5}])
    sup = Supervisor(settings, cameras, interval_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,))
    thread.start()
    try:
        poll_until(lambda: camera_finished(sup, "flaky"), 60, 0.1)
        assert sup.restarts["flaky"] == 1
        assert sup.status()["cameras"][0]["restarts"] == 1
    finally:
        stop.set()
        thread.join(60)
    events = read_frames(settings, expected=52)
    # two frames made it before the crash, then the restarted reader read the whole file
    seqs = [e["sequence"] for e in events]
    assert seqs == list(range(52))
