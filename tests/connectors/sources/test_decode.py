"""Decode only what is needed: the per-camera decode settings reach OpenCV's FFmpeg backend,
skipping non-reference frames decodes fewer frames, and sampling still yields the configured
5 fps from a 25 fps file or live RTSP stream with skipping on (sequence numbers contiguous,
capture times 200 ms apart)."""

from __future__ import annotations

import itertools
import re
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from connectors.sources.camera import CameraState
from connectors.sources.config import CameraConfig
from connectors.sources.reader import SourceError, capture_options, capture_params, open_capture
from connectors.sources.supervisor import Supervisor
from tests.connectors.helpers import make_topics, read_frames
from vigil.testing import bikes_mp4, poll_until
from vigil.testing.rtsp import RtspServer
from vigil_app.settings import VigilSettings


def test_live_sources_skip_non_reference_frames_by_default_files_do_not() -> None:
    live = CameraConfig(id="door", url="rtsp://cam/main")
    assert capture_options(live) == "rtsp_transport;tcp|avdiscard;nonref"
    assert capture_options(CameraConfig(id="clip", path=Path("/v/a.mp4"))) == "rtsp_transport;tcp"
    chosen = CameraConfig(
        id="door",
        url="rtsp://cam/main",
        rtsp_transport="udp",
        decode={"skip_frames": "none", "ffmpeg_options": {"buffer_size": "1048576"}},
    )
    assert capture_options(chosen) == "rtsp_transport;udp|buffer_size;1048576"


def _pairs(params: list[int]) -> dict[int, int]:
    return dict(zip(params[::2], params[1::2], strict=True))


def test_threads_and_hardware_decoding_are_open_parameters() -> None:
    params = capture_params(CameraConfig(id="door", url="rtsp://cam/main"))
    pairs = _pairs(params)
    assert pairs[cv2.CAP_PROP_N_THREADS] == 1
    assert cv2.CAP_PROP_HW_ACCELERATION not in pairs
    hw = CameraConfig(
        id="door", url="rtsp://cam/main", decode={"hw_acceleration": "vaapi", "hw_device": 1}
    )
    pairs = _pairs(capture_params(hw))
    assert pairs[cv2.CAP_PROP_HW_ACCELERATION] == cv2.VIDEO_ACCELERATION_VAAPI
    assert pairs[cv2.CAP_PROP_HW_DEVICE] == 1
    usb = _pairs(capture_params(CameraConfig(id="usb", device=0)))
    assert cv2.CAP_PROP_N_THREADS not in usb  # V4L2 devices: no FFmpeg decoder to configure


@pytest.mark.parametrize(
    ("decode", "message"),
    [
        ({"ffmpeg_options": {"avdiscard": "all"}}, "decode.skip_frames"),
        ({"ffmpeg_options": {"skip_frame": "nonref"}}, "decode.skip_frames"),
        ({"ffmpeg_options": {"threads": "1"}}, "decode.threads"),
        ({"ffmpeg_options": {"rtsp_transport": "udp"}}, "set rtsp_transport"),
        ({"ffmpeg_options": {"fflags": "nobuffer|x"}}, "not allowed"),
        ({"hw_device": 0}, "hw_device needs"),
        ({"skip_frames": "some"}, "skip_frames"),
        ({"thread": 2}, "thread"),
    ],
)
def test_bad_decode_settings_are_clear_errors(decode: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraConfig(id="door", url="rtsp://cam/main", decode=decode)


def _decoded(cfg: CameraConfig) -> list[str]:
    cap = open_capture(cfg)
    types = []
    try:
        while cap.grab():
            types.append(chr(int(cap.get(cv2.CAP_PROP_FRAME_TYPE))))
    finally:
        cap.release()
    return types


def test_skipping_non_reference_frames_decodes_fewer_frames() -> None:
    every = _decoded(CameraConfig(id="clip", path=bikes_mp4()))
    refs = _decoded(CameraConfig(id="clip", path=bikes_mp4(), decode={"skip_frames": "nonref"}))
    keys = _decoded(CameraConfig(id="clip", path=bikes_mp4(), decode={"skip_frames": "nonkey"}))
    assert len(every) == 250
    assert "B" in every
    assert 100 < len(refs) < 200  # bikes.mp4 has a B-pyramid: some B-frames are references
    assert refs.count("I") == every.count("I")
    assert refs.count("P") == every.count("P")
    assert set(keys) == {"I"}
    assert len(keys) == every.count("I")


def _run(settings: VigilSettings, tmp_path: Path, camera: dict[str, Any]) -> Supervisor:
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text(yaml.safe_dump({"cameras": [camera]}))
    return Supervisor(settings, cameras, interval_s=0.2)


def _assert_5fps(events: list[dict[str, Any]], count: int, *, live: bool = False) -> None:
    """Contiguous sequence numbers, capture times 200 ms apart on average. From a file (stream
    time) each gap is that of the nearest kept frame at or after its due time; live (arrival
    time) a frame that arrived late is followed by one on time, so a gap may be short."""
    assert [e["sequence"] for e in events] == list(range(count))
    gaps = [b["capture_ts_ms"] - a["capture_ts_ms"] for a, b in itertools.pairwise(events)]
    low, high = (0, 500) if live else (120, 300)
    assert all(low <= g <= high for g in gaps), gaps
    mean = sum(gaps) / len(gaps)
    assert 190 <= mean <= 210, mean


def test_file_sampled_at_5_fps_with_skipping_on(settings: VigilSettings, tmp_path: Path) -> None:
    make_topics(settings)
    sup = _run(
        settings,
        tmp_path,
        {
            "id": "bikes",
            "path": str(bikes_mp4()),
            "fps": 5,
            "max_width": 320,
            "max_height": 320,
            "decode": {"skip_frames": "nonref"},
        },
    )
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,))
    thread.start()
    try:
        assert poll_until(
            lambda: "bikes" in sup.runners and sup.runners["bikes"].state is CameraState.FINISHED,
            60,
            0.2,
        )
        assert poll_until(lambda: sup.runners["bikes"].done, 60, 0.2)
    finally:
        stop.set()
        thread.join(60)
    events = read_frames(settings)
    assert 48 <= len(events) <= 50  # 10 s at 5 fps, from the ~13 reference frames a second
    _assert_5fps(events, len(events))


def test_live_rtsp_sampled_at_5_fps_with_skipping_on(
    settings: VigilSettings, tmp_path: Path, camera_stream: RtspServer
) -> None:
    make_topics(settings)
    camera_stream.start()
    sup = _run(settings, tmp_path, {"id": "gate", "url": camera_stream.url(), "fps": 5})
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,))
    thread.start()
    try:
        assert poll_until(lambda: "gate" in sup.runners and sup.runners["gate"].frames_captured, 30)
        runner = sup.runners["gate"]
        assert capture_options(runner.cfg).endswith("avdiscard;nonref")
        first, t0 = runner.frames_captured, time.monotonic()
        time.sleep(4)
        rate = (runner.frames_captured - first) / (time.monotonic() - t0)
        assert 4.5 <= rate <= 5.5, rate
        assert runner.buffer.dropped == 0
    finally:
        stop.set()
        thread.join(60)
        camera_stream.kill()
    captured = sup.runners["gate"].frames_captured
    events = read_frames(settings, expected=captured)
    assert len(events) == captured
    assert all(
        e["source_kind"] == "RTSP" and (e["width"], e["height"]) == (640, 360) for e in events
    )
    _assert_5fps(events, captured, live=True)


def test_a_hardware_decoder_that_cannot_open_says_so() -> None:
    cfg = CameraConfig(id="clip", path=bikes_mp4(), decode={"hw_acceleration": "vaapi"})
    if re.search(r"\bVA:\s+YES", cv2.getBuildInformation()):
        pytest.skip("this OpenCV has VA-API")
    with pytest.raises(SourceError, match="hw_acceleration vaapi"):
        open_capture(cfg)
