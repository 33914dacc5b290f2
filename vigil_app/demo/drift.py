"""The demo's drift stage: ``vigil drift`` (a real subprocess on the real broker) over eight
windows of one camera, the brightness alarm going out once its frames are darkened (halved,
"night") from the sixth window on.

Drift needs many windows of event time, more than the demo can afford to put through the
worker, so this stage replays the SSD's detections of the sample video (computed once and
cached by :mod:`streams.drift.samples`) on a synthetic clock, on topics of its own
(``<prefix>-drift-demo``) so that clock never mixes with the rest of the demo's data."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_END, TopicPartition
from rich.console import Console
from rich.table import Table

from gpu_workers.models.loader import load_model
from schemas.contracts import serde_for
from streams.drift.process import DriftProcess
from streams.drift.samples import FramePool, build_pool, stream
from vigil import kafka
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.demo.sources import sample_video
from vigil_app.settings import DriftSettings, TopicSettings, VigilSettings

FRAME_MS = 100
LOOPS, SHIFT_AT = 8, 5
SHOWN = ("class_mix", "brightness", "sharpness")


@dataclass(frozen=True)
class DriftDemo:
    windows: int
    alarms: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return any(a["rule_id"] == "drift:brightness" for a in self.alarms)


def load_default_pool(cache_dir: Path, video: Path) -> FramePool:
    """The zoo's SSD on ``video``, cached under ``cache_dir/drift``."""
    detector = load_model("ssd_mobilenet_v2_coco", cache_dir, threads=2)
    return build_pool(video, detector, cache_dir / "drift" / f"pool-{video.stem}.json")


def _tail(settings: VigilSettings, role: Topic) -> Any:
    cons = kafka.consumer(settings, f"vigil-drift-demo-{uuid.uuid4().hex[:8]}")
    topic = role.name_in(settings.topics)
    cons.assign(
        [TopicPartition(topic, tp.partition, OFFSET_END) for tp in kafka.end_offsets(cons, topic)]
    )
    return cons


def drift_topics(settings: VigilSettings) -> TopicSettings:
    """The stage's own topics."""
    return TopicSettings(prefix=f"{settings.topics.prefix}-drift-demo")


def run_drift_demo(
    settings: VigilSettings, console: Console, timeout_s: float = 120.0
) -> DriftDemo:
    run = uuid.uuid4().hex[:6]
    with console.status("Drift: running the SSD over the sample video (cached after once)..."):
        pool = load_default_pool(settings.cache_dir, sample_video(settings))
    window_ms = len(pool) * FRAME_MS
    demo = settings.model_copy(
        update={
            "topics": drift_topics(settings),
            "drift": DriftSettings(
                app_id=f"demo-{run}",
                window_s=window_ms / 1000,
                allowed_lateness_s=1.0,
                session_timeout_s=6.0,
            ),
        }
    )
    ensure_topics(kafka.admin(demo), topic_specs(demo.topics))
    camera = f"demo-{run}"
    drift_serde, alert_serde = serde_for(demo, Topic.DRIFT), serde_for(demo, Topic.ALERTS)
    drift_cons, alert_cons = _tail(demo, Topic.DRIFT), _tail(demo, Topic.ALERTS)
    app = DriftProcess(demo, settings.data_dir / "drift-demo" / f"{run}.log")
    start_ms = int(time.time() * 1000) // window_ms * window_ms
    events = stream(
        pool,
        camera,
        LOOPS,
        start_ms=start_ms,
        shift=lambda loop: "dark" if loop >= SHIFT_AT else "none",
    )
    prod = kafka.producer(demo)
    det_topic, det_serde = Topic.DETECTIONS.name_in(demo.topics), serde_for(demo, Topic.DETECTIONS)
    for e in events:
        kafka.produce(prod, det_topic, det_serde.serialize(e, topic=det_topic), key=camera)
        prod.poll(0)
    prod.flush(30)
    rows: dict[int, dict[str, Any]] = defaultdict(dict)
    alarms: list[dict[str, Any]] = []
    try:
        app.start()
        deadline = time.monotonic() + timeout_s
        with console.status("Drift: vigil drift is closing the windows..."):
            while len(rows) < LOOPS - 1 or any("late_events:RATE" not in r for r in rows.values()):
                if time.monotonic() > deadline or not app.alive():
                    break
                for msg in drift_cons.consume(500, timeout=0.5):
                    if msg.error() is None:
                        r = drift_serde.decode(msg)
                        if r["camera_id"] == camera:
                            rows[r["window_start_ms"]][f"{r['feature']}:{r['statistic']}"] = r
            for msg in alert_cons.consume(100, timeout=2.0):
                if msg.error() is None:
                    a = alert_serde.decode(msg)
                    if a["camera_id"] == camera:
                        alarms.append(a)
    finally:
        app.stop()
        drift_cons.close()
        alert_cons.close()
    _print(console, rows, alarms, start_ms, window_ms, len(pool))
    result = DriftDemo(len(rows), alarms)
    if not result.ok:
        raise SystemExit(f"demo failed: no brightness alarm from vigil drift (log: {app.log})")
    return result


def _print(
    console: Console,
    rows: dict[int, dict[str, Any]],
    alarms: list[dict[str, Any]],
    start_ms: int,
    window_ms: int,
    pool: int,
) -> None:
    table = Table(title=f"Drift windows ({window_ms / 1000:g} s of event time, PSI per feature)")
    table.add_column("window")
    table.add_column("frames", justify="right")
    table.add_column("reference")
    for feature in SHOWN:
        table.add_column(feature, justify="right")
    table.add_column("alarms", overflow="fold")
    for start in sorted(rows):
        r = rows[start]
        index = (start - start_ms) // window_ms
        frames = r.get("late_events:RATE", {}).get("sample_size", 0)
        building = "reference_windows:RATE" in r
        cells = [f"{r[f'{f}:PSI']['value']:.3f}" if f"{f}:PSI" in r else "-" for f in SHOWN]
        alarmed = sorted({k.split(":")[0] for k, v in r.items() if v["alarm"]})
        label = f"{index}" + (" dark" if index >= SHIFT_AT else "")
        table.add_row(
            label,
            str(frames),
            "building" if building else "auto",
            *cells,
            ", ".join(alarmed) or "-",
        )
    console.print(table)
    for a in alarms:
        console.print(
            f"[bold red]alert[/] {a['rule_id']} camera {a['camera_id']} severity {a['severity']}: "
            f"PSI {a['details'].get('psi', '?')} > {a['details'].get('psi_threshold', '?')} "
            f"for {a['details']['consecutive_windows']} windows in a row"
        )
    console.print(
        f"Drift: {pool} frames of the sample video per window through the real SSD; "
        f"brightness halved from window {SHIFT_AT} on."
    )
