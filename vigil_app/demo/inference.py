"""The demo's inference stage: the real worker (default detector, one Kafka transaction per
batch) over everything its group has not yet committed on ``vigil.frames``, then a
``read_committed`` reader over the detections it wrote."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition
from rich.console import Console
from rich.table import Table

from gpu_workers.worker.loop import Worker
from schemas.contracts import serde_for
from vigil import kafka
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


@dataclass
class Detections:
    """What the reader saw: each event once (by frame id), with its encoded size."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def offsets(settings: VigilSettings, role: Topic) -> list[TopicPartition]:
    """The end of every partition of ``role``'s topic, now."""
    probe = kafka.consumer(settings, f"vigil-demo-probe-{time.monotonic_ns()}")
    try:
        return kafka.end_offsets(probe, role.name_in(settings.topics))
    finally:
        probe.close()


def run_worker(settings: VigilSettings, console: Console, timeout_s: float = 300.0) -> int:
    """Run one worker until its group has committed every frame on the topic now; the number
    of frames it committed (DLQ'd ones included)."""
    topic = Topic.FRAMES.name_in(settings.topics)
    probe = kafka.consumer(settings, settings.worker.group_id)
    end = {tp.partition: tp.offset for tp in kafka.end_offsets(probe, topic)}
    low = {p: probe.get_watermark_offsets(TopicPartition(topic, p), 10)[0] for p in end}
    before = _committed(probe, topic, end, low)
    with console.status(f"Loading {settings.models.detector} for the inference worker..."):
        worker = Worker(settings, instance="demo")
    thread = threading.Thread(target=worker.run, name="demo-worker", daemon=True)
    deadline = time.monotonic() + timeout_s
    with console.status("Worker: frames -> detections, one transaction per batch..."):
        thread.start()
        now = before
        while time.monotonic() < deadline and thread.is_alive():
            now = _committed(probe, topic, end, low)
            if all(now[p] >= end[p] for p in end):
                break
            time.sleep(0.5)
    worker.stop()
    thread.join(60)
    probe.close()
    if thread.is_alive() or any(now[p] < end[p] for p in end):
        raise SystemExit(f"demo failed: the worker committed {now} of {end} frames")
    return sum(now[p] - before[p] for p in end)


def _committed(probe: Any, topic: str, end: dict[int, int], low: dict[int, int]) -> dict[int, int]:
    """The group's committed offset per partition; the low watermark where it has none."""
    got = probe.committed([TopicPartition(topic, p) for p in end], timeout=10)
    return {tp.partition: max(tp.offset, low[tp.partition]) for tp in got}


def read_detections(
    settings: VigilSettings, start: list[TopicPartition], timeout_s: float = 60.0
) -> Detections:
    """Every DetectionEvent from ``start`` to the end of the topic, ``read_committed``."""
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    cons = kafka.consumer(settings, f"vigil-demo-reader-{time.monotonic_ns()}")
    cons.assign(start)
    end = {tp.partition: tp.offset for tp in kafka.end_offsets(cons, topic)}
    begin = {tp.partition: tp.offset for tp in start}
    seen: set[str] = set()
    out = Detections()

    def behind() -> bool:  # positions move past transaction markers too
        return any(
            max(tp.offset, begin[tp.partition]) < end[tp.partition]
            for tp in cons.position(cons.assignment())
        )

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and behind():
            for msg in cons.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                det = serde.decode(msg)
                if det["frame_id"] in seen:
                    continue
                seen.add(det["frame_id"])
                out.events.append(det)
                out.sizes.append(len(msg.value() or b""))
    finally:
        cons.close()
    return out


def print_worker(settings: VigilSettings, console: Console, frames: int, dets: Detections) -> None:
    """How many frames the worker committed, events per camera, detections per label."""
    cameras: Counter[str] = Counter(d["camera_id"] for d in dets.events)
    labels: Counter[str] = Counter(x["label"] for d in dets.events for x in d["detections"])
    table = Table(title=f"Inference worker ({settings.models.detector}, exactly-once)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("frames consumed and committed (incl. DLQ)", str(frames))
    table.add_row("DetectionEvents committed by the worker", str(len(dets.events)))
    for camera, n in sorted(cameras.items()):
        table.add_row(f"  of camera {camera}", str(n))
    for label, n in labels.most_common(8):
        table.add_row(f"  detections labelled {label!r}", str(n))
    console.print(table)
    if not dets.events:
        raise SystemExit("demo failed: the worker produced no detections")
