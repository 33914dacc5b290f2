"""Events on the real broker for tests and benches: FrameEvents of real JPEGs, producing them
(and DetectionEvents) the way Vigil's producers do, keyed by camera, and a ``read_committed``
collector of the worker's detections that keeps reading while the test runs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.contracts import serde_for
from vigil import kafka
from vigil.settings import CoreSettings
from vigil.testing.waits import poll_until
from vigil.topics import Topic


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def frame_event(camera: str, seq: int, jpeg: bytes, **overrides: Any) -> dict[str, Any]:
    """A FrameEvent ``camera-seq`` of ``jpeg``, captured now (``overrides`` replace fields)."""
    now = now_ms()
    return {
        "frame_id": f"{camera}-{seq}",
        "camera_id": camera,
        "sequence": seq,
        "capture_ts_ms": now,
        "ingest_ts_ms": now,
        "source_kind": "FILE",
        "width": 0,
        "height": 0,
        "encoding": "JPEG",
        "image": jpeg,
        "image_uri": None,
        "tags": {},
        **overrides,
    }


def produce_events(
    settings: CoreSettings,
    role: Topic,
    events: Iterable[Mapping[str, Any] | bytes],
    *,
    raw_key: str = "raw",
    timeout_s: float = 60.0,
) -> int:
    """Produce ``events`` on ``role``'s topic, Avro-encoded and keyed by camera; a ``bytes``
    item goes as it is (undecodable input) under ``raw_key``. Flushed; returns the count."""
    topic = role.name_in(settings.topics)
    serde = serde_for(settings, role)
    prod = kafka.producer(settings)
    n = 0
    for ev in events:
        if isinstance(ev, bytes):
            kafka.produce(prod, topic, ev, key=raw_key)
        else:
            kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
        prod.poll(0)
        n += 1
    if prod.flush(timeout_s) != 0:
        raise TimeoutError(f"{topic}: records not delivered in {timeout_s:g}s")
    return n


def produce_frames(
    settings: CoreSettings, events: Iterable[Mapping[str, Any]], raw: Iterable[bytes] = ()
) -> int:
    """Produce FrameEvents (keyed by camera) and optional raw (non-Avro) values; flushed."""
    return produce_events(settings, Topic.FRAMES, [*events, *raw])


def publish_detections(settings: CoreSettings, events: Iterable[Mapping[str, Any]]) -> None:
    """Produce DetectionEvents keyed by camera; flushed."""
    produce_events(settings, Topic.DETECTIONS, events, timeout_s=30)


def produce_timed(
    settings: CoreSettings,
    camera: str,
    jpegs: list[bytes],
    base_ms: int,
    step_ms: int,
    *,
    stamp: bool = True,
) -> list[dict[str, Any]]:
    """Frames ``camera-<i>`` captured at ``base_ms + i * step_ms``; with ``stamp`` the record
    timestamp is the capture time (as a camera-stamping source would produce them), else the
    producer's clock (as Vigil's ingest does)."""
    topic = Topic.FRAMES.name_in(settings.topics)
    serde = serde_for(settings, Topic.FRAMES)
    prod = kafka.producer(settings)
    events = []
    for i, jpeg in enumerate(jpegs):
        ts = base_ms + i * step_ms
        ev = frame_event(camera, i, jpeg, capture_ts_ms=ts, ingest_ts_ms=ts)
        value = serde.serialize(ev, topic=topic)
        if stamp:
            prod.produce(topic, value, key=camera, timestamp=ts)
        else:
            prod.produce(topic, value, key=camera)
        prod.poll(0)
        events.append(ev)
    if prod.flush(60) != 0:
        raise RuntimeError("frames not delivered")
    return events


def closed_windows(rows: list[dict[str, Any]], camera: str) -> int:
    """Distinct drift windows of ``camera`` closed in DriftStat ``rows`` (each closed window
    has one ``late_events`` row; a window re-closed after a crash repeats its records)."""
    return len(
        {
            r["window_start_ms"]
            for r in rows
            if r["camera_id"] == camera and r["feature"] == "late_events"
        }
    )


class Collector:
    """Reads committed detections in a thread; counts every frame id it sees."""

    def __init__(self, settings: CoreSettings) -> None:
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._settings = settings
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _run(self) -> None:
        topic = Topic.DETECTIONS.name_in(self._settings.topics)
        serde = serde_for(self._settings, Topic.DETECTIONS)
        cons = kafka.consumer(self._settings, f"collector-{time.monotonic_ns()}")
        cons.subscribe([topic])
        try:
            while not self._stop.is_set():
                for msg in cons.consume(500, 0.2):
                    if msg.error() is None:
                        self.counts[serde.decode(msg)["frame_id"]] += 1
        finally:
            cons.close()

    def wait_for(self, n: int, timeout_s: float) -> bool:
        """Whether ``n`` detections arrived within ``timeout_s``."""
        return poll_until(lambda: self.total >= n, timeout_s, 0.1)

    def stop(self, settle_s: float = 3.0) -> None:
        time.sleep(settle_s)  # late duplicates would arrive now
        self._stop.set()
        self._thread.join(30)
