"""``make demo``: Vigil's flow on the embedded defaults, end to end through a real broker.

Today: the local stack, the topics, synthetic cameras producing FrameEvents, an exactly-once
read-process-write step (image statistics, in Kafka transactions) producing DetectionEvents,
a ``read_committed`` reader checking every event arrived once and in order per camera, and
embedded ClickHouse answering. Later issues replace the synthetic parts with real ones.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, TopicPartition
from prometheus_client import Counter
from rich.table import Table

from schemas.contracts import serde_for
from vigil import kafka
from vigil.clickhouse import connect
from vigil.imagestats import ImageStats, image_stats
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.stack import Stack
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.cli.common import console
from vigil_app.settings import VigilSettings

EVENTS = Counter("vigil_demo_events_total", "Events the demo produced", ["topic"])
WIDTH, HEIGHT = 64, 48


@dataclass
class Tally:
    produced: int = 0
    consumed: int = 0
    bytes: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def synthetic_frame(camera: int, seq: int) -> bytes:
    """A grey-level gradient that drifts with the sequence number (RAW_GRAY8)."""
    return bytes(
        ((x + y + seq * 3 + camera * 40) % 256) for y in range(HEIGHT) for x in range(WIDTH)
    )


def raw_gray_stats(pixels: bytes) -> ImageStats:
    """The shared image statistics of a RAW_GRAY8 synthetic frame."""
    return image_stats(np.frombuffer(pixels, dtype=np.uint8).reshape(HEIGHT, WIDTH))


@dataclass(frozen=True)
class DemoSummary:
    frames_produced: int
    frame_bytes: int
    detections_committed: int
    detection_bytes: int
    in_order: bool
    latency_p50_ms: float
    latency_p99_ms: float
    clickhouse_version: str
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.in_order and self.frames_produced == self.detections_committed


def run_demo(settings: VigilSettings, *, events: int, cameras: int) -> DemoSummary:
    setup_logging(settings, "demo")
    port = serve_metrics(settings.metrics_port, "demo")
    stack = Stack.from_settings(settings)
    t0 = time.monotonic()
    if settings.kafka.bootstrap_servers == stack.kafka.bootstrap:
        with console.status("Starting the local Apache Kafka broker..."):
            stack.kafka.start(timeout_s=settings.stack.start_timeout_s)
    kafka.wait_until_ready(settings)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    frames_topic = Topic.FRAMES.name_in(settings.topics)
    det_topic = Topic.DETECTIONS.name_in(settings.topics)
    run = uuid.uuid4().hex[:8]

    # Remember where this run starts, so re-runs read only their own events.
    probe = kafka.consumer(settings, f"vigil-demo-probe-{run}")
    frames_start = kafka.end_offsets(probe, frames_topic)
    det_start = kafka.end_offsets(probe, det_topic)
    probe.close()

    frames, dets = Tally(), Tally()
    produce_frames(settings, frames_topic, run, events, cameras, frames)
    process_exactly_once(settings, frames_topic, det_topic, frames_start, run, events)
    seen = read_detections(settings, det_topic, det_start, run, events, dets)
    in_order = all(seqs == sorted(seqs) for seqs in seen.values())

    # Issue 3: the bundled sample video through the camera ingest path into vigil.frames.
    from vigil_app.demo.sources import ingest_sample_video

    ingest_sample_video(settings)

    # Issue 5: the real inference worker over the frames topic (sample video included).
    from vigil_app.demo.worker import run_worker_demo

    run_worker_demo(settings)

    # Issue 8: a drift window summary, and an injected shift raising an alarm.
    from vigil_app.demo.drift import run_drift_demo

    run_drift_demo(settings)

    # Issue 7: enrol the sample person; a POI alert and a zone alert on the sample videos.
    from vigil_app.demo.alerting import demo_alerts

    demo_alerts(settings)

    ch = connect(settings)
    ch_version = ch.query("SELECT version()")[0][0]
    ch.close()
    lat = sorted(dets.latencies_ms) or [0.0]
    summary = DemoSummary(
        frames_produced=frames.produced,
        frame_bytes=frames.bytes,
        detections_committed=dets.consumed,
        detection_bytes=dets.bytes,
        in_order=in_order,
        latency_p50_ms=lat[len(lat) // 2],
        latency_p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        clickhouse_version=str(ch_version),
        elapsed_s=time.monotonic() - t0,
    )
    print_summary(settings, summary, cameras, port)
    # issue 6: the detections into embedded ClickHouse, then a few named queries
    from vigil_app.demo.sink import sink_and_show

    sink_and_show(settings, console)
    # Issue 9: replay the sample video through a second model configuration and evaluate it.
    from vigil_app.demo.replay import run_replay_demo

    run_replay_demo(settings, console)
    # issue 10: the web dashboard in the background, its URL and a one-time login key
    from vigil_app.demo.dashboard import start_demo_dashboard

    start_demo_dashboard(settings, console)
    if not summary.ok or summary.frames_produced != events:
        raise SystemExit(f"demo failed: {dets.consumed}/{events} detections, in order: {in_order}")
    return summary


def produce_frames(
    settings: VigilSettings, topic: str, run: str, events: int, cameras: int, tally: Tally
) -> None:
    serde = serde_for(settings, Topic.FRAMES)
    prod = kafka.producer(settings)

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            tally.produced += 1
            tally.bytes += len(msg.value())
            EVENTS.labels(topic).inc()

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
        kafka.produce(
            prod,
            topic,
            serde.serialize(event, topic=topic),
            key=f"cam{cam}",
            on_delivery=delivered,
        )
        prod.poll(0)
    if prod.flush(30) != 0:
        raise SystemExit("demo failed: frames still undelivered after 30 s")


def process_exactly_once(
    settings: VigilSettings,
    frames_topic: str,
    det_topic: str,
    start: list[TopicPartition],
    run: str,
    events: int,
) -> None:
    """Read frames, compute image statistics, write detections and offsets in one transaction
    per batch: the read-process-write loop the inference workers run."""
    frames_serde = serde_for(settings, Topic.FRAMES)
    det_serde = serde_for(settings, Topic.DETECTIONS)
    group = f"vigil-demo-{run}"
    cons = kafka.consumer(settings, group)
    cons.assign(start)
    prod = kafka.transactional_producer(settings, f"vigil-demo-{run}")
    done = 0
    deadline = time.monotonic() + 60
    while done < events and time.monotonic() < deadline:
        batch = cons.consume(64, timeout=1.0)
        if not batch:
            continue
        prod.begin_transaction()
        for msg in batch:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit(f"demo failed: {error}")
            frame = frames_serde.decode(msg)
            if frame["tags"].get("demo_run") != run:
                continue
            det = {
                "frame_id": frame["frame_id"],
                "camera_id": frame["camera_id"],
                "sequence": frame["sequence"],
                "capture_ts_ms": frame["capture_ts_ms"],
                "inference_ts_ms": int(time.time() * 1000),
                "model_name": "demo-image-stats",
                "model_version": "0",
                "frame_width": frame["width"],
                "frame_height": frame["height"],
                "detections": [],
                "image_stats": raw_gray_stats(frame["image"]),
            }
            kafka.produce(
                prod, det_topic, det_serde.serialize(det, topic=det_topic), key=det["camera_id"]
            )
            EVENTS.labels(det_topic).inc()
            done += 1
        prod.send_offsets_to_transaction(
            cons.position(cons.assignment()), cons.consumer_group_metadata(), 30
        )
        prod.commit_transaction(30)
    cons.close()


def read_detections(
    settings: VigilSettings,
    topic: str,
    start: list[TopicPartition],
    run: str,
    events: int,
    tally: Tally,
) -> dict[str, list[int]]:
    serde = serde_for(settings, Topic.DETECTIONS)
    cons = kafka.consumer(settings, f"vigil-demo-reader-{run}")
    cons.assign(start)
    seen: dict[str, list[int]] = defaultdict(list)
    frame_ids: set[str] = set()
    deadline = time.monotonic() + 60
    while tally.consumed < events and time.monotonic() < deadline:
        for msg in cons.consume(256, timeout=1.0):
            if msg.error():
                continue
            det = serde.decode(msg)
            if not det["frame_id"].startswith(f"demo-{run}-") or det["frame_id"] in frame_ids:
                continue
            frame_ids.add(det["frame_id"])
            tally.consumed += 1
            tally.bytes += len(msg.value() or b"")
            tally.latencies_ms.append(time.time() * 1000 - det["capture_ts_ms"])
            seen[det["camera_id"]].append(det["sequence"])
    cons.close()
    return seen


def print_summary(
    settings: VigilSettings, summary: DemoSummary, cameras: int, metrics_port: int | None
) -> None:
    table = Table(title="Vigil demo")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("Kafka", settings.kafka.bootstrap_servers),
        ("cameras", str(cameras)),
        (
            "FrameEvents produced (idempotent, acks=all)",
            f"{summary.frames_produced} ({summary.frame_bytes / 1024:.0f} KiB)",
        ),
        (
            "DetectionEvents committed (transactions)",
            f"{summary.detections_committed} ({summary.detection_bytes / 1024:.0f} KiB)",
        ),
        ("per-camera order kept", "yes" if summary.in_order else "NO"),
        (
            "capture -> committed detection p50 / p99 (phases run in turn)",
            f"{summary.latency_p50_ms:.0f} / {summary.latency_p99_ms:.0f} ms",
        ),
        (
            "ClickHouse (embedded chDB)",
            f"{summary.clickhouse_version} at {settings.data_dir / 'chdb'}",
        ),
        ("wall time", f"{summary.elapsed_s:.1f} s"),
    ]
    if metrics_port:
        rows.append(("metrics", f"http://127.0.0.1:{metrics_port}/metrics"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    console.print(
        "The broker keeps running: [bold]vigil stack status[/], [bold]vigil stack down[/]."
    )
