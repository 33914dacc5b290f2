"""A video file through the whole camera path into the real broker."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import cv2
import numpy as np
import yaml
from typer.testing import CliRunner

from connectors.sources.camera import CameraState
from connectors.sources.supervisor import Supervisor
from tests.connectors.helpers import make_topics, read_frames
from vigil.cameras import read_status
from vigil.testing import bikes_mp4, poll_until
from vigil_app.cli import app
from vigil_app.settings import VigilSettings


def write_cameras(path: Path, cameras: list[dict[str, object]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"cameras": cameras}))
    tmp.replace(path)


def test_bikes_at_5_fps_gives_50_ordered_decodable_frames(
    settings: VigilSettings, tmp_path: Path
) -> None:
    make_topics(settings)
    cameras = tmp_path / "cameras.yaml"
    write_cameras(
        cameras,
        [{"id": "bikes", "path": str(bikes_mp4()), "fps": 5, "max_width": 320, "max_height": 320}],
    )
    sup = Supervisor(settings, cameras, interval_s=0.2)
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
        assert sup.publisher.flush(30) == 0
        status = read_status(settings)
        assert status is not None
        assert status["cameras"][0]["id"] == "bikes"
        sup.write_status()
        shown = CliRunner().invoke(
            app,
            ["cameras", "status"],
            env={"VIGIL_DATA_DIR": str(settings.data_dir), "COLUMNS": "200"},
        )
        assert shown.exit_code == 0, shown.output
        assert "bikes" in shown.output
        assert "finished" in shown.output
    finally:
        stop.set()
        thread.join(60)

    events = read_frames(settings, expected=50)
    # 250 frames at 25 fps = 10 s of video; sampled at 5 fps: t = 0, 200, ..., 9800 ms
    assert len(events) == 50
    assert [e["sequence"] for e in events] == list(range(50))
    assert {e["_key"] for e in events} == {b"bikes"}
    assert len({e["_partition"] for e in events}) == 1
    assert [e["frame_id"] for e in events] == [f"bikes-{i}" for i in range(50)]
    deltas = {b["capture_ts_ms"] - a["capture_ts_ms"] for a, b in itertools.pairwise(events)}
    assert deltas == {200}  # stream time, not read time
    for e in events:
        assert e["source_kind"] == "FILE"
        assert e["encoding"] == "JPEG"
        assert e["image_uri"] is None
        assert (e["width"], e["height"]) == (320, 136)  # 640x272 resized keeping aspect
        img = cv2.imdecode(np.frombuffer(e["image"], np.uint8), cv2.IMREAD_COLOR)
        assert img is not None
        assert img.shape == (136, 320, 3)
