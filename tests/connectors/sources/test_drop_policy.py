"""When Kafka acknowledges slower than the camera captures, drop_oldest drops and counts; every
captured frame is either on the topic or counted as dropped, never lost silently."""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import REGISTRY

from connectors.blobstore import default_store
from connectors.sources.camera import CameraState
from connectors.sources.publisher import make_publisher
from connectors.sources.supervisor import Supervisor
from tests.connectors.helpers import camera_finished, make_topics, read_frames, write_cameras
from vigil.testing import bikes_mp4, poll_until
from vigil_app.settings import VigilSettings


def test_drop_oldest_under_backpressure(settings: VigilSettings, tmp_path: Path) -> None:
    make_topics(settings)
    cameras = tmp_path / "cameras.yaml"
    camera = {
        "id": "busy",
        "path": str(bikes_mp4()),
        "fps": 25,  # every frame
        "drop_policy": "drop_oldest",
        "buffer_frames": 2,
        "max_in_flight": 1,
    }
    write_cameras(cameras, [camera])
    # each acknowledgement takes at least 100 ms: far slower than decoding 640x272 frames
    publisher = make_publisher(settings, default_store(settings), **{"linger.ms": 100})
    sup = Supervisor(settings, cameras, publisher=publisher, interval_s=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,))
    thread.start()
    try:
        poll_until(lambda: camera_finished(sup, "busy"), 90, 0.1)
        runner = sup.runners["busy"]
        assert runner.state is CameraState.FINISHED
        captured, dropped = runner.frames_captured, runner.buffer.dropped
    finally:
        stop.set()
        thread.join(60)
    assert captured == 250
    assert dropped > 0
    metric = REGISTRY.get_sample_value(
        "vigil_camera_frames_dropped_total", {"camera": "busy", "policy": "drop_oldest"}
    )
    assert metric == dropped
    events = read_frames(settings)
    seqs = [e["sequence"] for e in events]
    assert len(seqs) + dropped == captured  # on the topic or counted: nothing else
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert seqs[-1] == captured - 1  # the freshest frame survives drop_oldest
