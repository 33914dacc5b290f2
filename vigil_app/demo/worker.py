"""``make demo``'s inference step: the real worker (default detector, transactions) over what
the demo put on the frames topic, including the ingested sample video; prints labels seen."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import TopicPartition
from rich.table import Table

from gpu_workers.worker.loop import Worker
from schemas.contracts import serde_for
from vigil import kafka
from vigil.topics import Topic
from vigil_app.cli.common import console
from vigil_app.settings import VigilSettings

SAMPLE_CAMERA = "sample-video"  # vigil_app.demo.sources.CAMERA_ID (no import across folders)


@dataclass(frozen=True)
class WorkerDemo:
    frames: int
    detection_events: int
    labels: dict[str, int]


def run_worker_demo(settings: VigilSettings, timeout_s: float = 300.0) -> WorkerDemo:
    frames_topic = Topic.FRAMES.name_in(settings.topics)
    det_topic = Topic.DETECTIONS.name_in(settings.topics)
    probe = kafka.consumer(settings, settings.worker.group_id)
    frames_end = {tp.partition: tp.offset for tp in kafka.end_offsets(probe, frames_topic)}
    low = {  # empty partitions have nothing to commit
        p: probe.get_watermark_offsets(TopicPartition(frames_topic, p), 10)[0] for p in frames_end
    }
    det_start = kafka.end_offsets(probe, det_topic)
    with console.status(f"Loading {settings.models.detector} for the inference worker..."):
        worker = Worker(settings, instance="demo")
    thread = threading.Thread(target=worker.run, name="demo-worker", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    with console.status("Worker: frames -> detections, one transaction per batch..."):
        while time.monotonic() < deadline and thread.is_alive():
            done = probe.committed(
                [tp for tp in kafka.end_offsets(probe, frames_topic)], timeout=10
            )
            if all(
                tp.offset >= frames_end[tp.partition]
                or frames_end[tp.partition] <= low[tp.partition]
                for tp in done
            ):
                break
            time.sleep(0.5)
    worker.stop()
    thread.join(60)
    probe.close()
    labels, cameras, events = _read_detections(settings, det_topic, det_start)
    summary = WorkerDemo(worker.committed_frames, events, dict(labels.most_common()))
    table = Table(title=f"Inference worker ({settings.models.detector}, exactly-once)")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("frames consumed and committed (incl. DLQ)", str(summary.frames))
    table.add_row("DetectionEvents committed by the worker", str(events))
    table.add_row(
        "  of which sample-video frames (the rest: synthetic gradients)",
        str(cameras.get(SAMPLE_CAMERA, 0)),
    )
    for label, n in list(labels.most_common())[:8]:
        table.add_row(f"  detections labelled {label!r}", str(n))
    console.print(table)
    if thread.is_alive() or events == 0:
        raise SystemExit("demo failed: the worker produced no detections")
    return summary


def _read_detections(
    settings: VigilSettings, topic: str, start: list[TopicPartition]
) -> tuple[Counter[str], Counter[str], int]:
    serde = serde_for(settings, Topic.DETECTIONS)
    cons = kafka.consumer(settings, f"vigil-demo-worker-reader-{time.monotonic_ns()}")
    cons.assign(start)
    end = {tp.partition: tp.offset for tp in kafka.end_offsets(cons, topic)}
    begin = {tp.partition: tp.offset for tp in start}
    labels: Counter[str] = Counter()
    cameras: Counter[str] = Counter()
    events = 0
    deadline = time.monotonic() + 60

    def behind() -> bool:  # positions move past transaction markers too
        return any(
            max(tp.offset, begin[tp.partition]) < end[tp.partition]
            for tp in cons.position(cons.assignment())
        )

    while time.monotonic() < deadline and behind():
        for msg in cons.consume(500, 0.5):
            if msg.error() is not None:
                continue
            det = serde.decode(msg)
            if det["model_name"] != settings.models.detector.split("/")[-1]:
                continue
            events += 1
            cameras[det["camera_id"]] += 1
            labels.update(d["label"] for d in det["detections"])
    cons.close()
    return labels, cameras, events
