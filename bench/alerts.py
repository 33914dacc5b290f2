"""Alerting throughput and latency with 20 rules and a 10,000-person watch-list.

Prints JSON. Two measurements side by side in one run:

- ``engine``: the pure rule/tracker/POI step (``streams.alerting.engine.process`` plus the
  state encoding the faust table needs) on one core, detections/s;
- ``app``: the real ``vigil alerts`` process (faust, events applied once) on its own broker:
  detections/s sustained from a backlog, and detection -> alert latency p50/p99, both when the
  alert is produced (``alert_ts_ms - inference_ts_ms``) and when a ``read_committed`` consumer
  can see it (each alert is flushed together with its camera state).

Run: ``make bench`` or ``python -m bench.alerts``.
"""

from __future__ import annotations

import json
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from schemas.contracts import serde_for
from streams.alerting.engine import CameraState, match_faces, process
from streams.alerting.rules import RuleSet, parse_rules
from streams.alerting.watchlist import Watchlist
from tests.conftest import free_port
from tests.streams.alerting.helpers import (
    AlertsProcess,
    prepare_topics,
    publish_detections,
    read_topic,
    wait_committed,
)
from vigil import kafka
from vigil.settings import KafkaSettings, TopicSettings, VigilSettings
from vigil.stack import KafkaBroker
from vigil.topics import Topic

PERSONS = 10_000
DIM = 1024
CAMERAS = 8


def rules_yaml() -> str:
    """20 rules: 5 of each trigger, each on a different zone or line."""
    rules = []
    for i in range(5):
        x = 0.1 + 0.15 * i
        zone = f"[[{x}, 0], [{x + 0.3}, 0], [{x + 0.3}, 1], [{x}, 1]]"
        rules += [
            f"  - {{id: zone{i}, zone: {zone}}}",
            f"  - {{id: dwell{i}, trigger: dwell, dwell_s: 5, zone: {zone}}}",
            f"  - {{id: line{i}, trigger: line, line: {{a: [{x}, 0], b: [{x}, 1]}}}}",
            f"  - {{id: count{i}, trigger: count, count: 3, zone: {zone}}}",
        ]
    return "rules:\n" + "\n".join(rules) + "\npoi: {threshold: 0.6, near_miss: 0.35}\n"


def watchlist_records(rng: np.random.Generator) -> list[dict[str, Any]]:
    vectors = rng.normal(size=(PERSONS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        {
            "person_id": f"p{i:05d}",
            "embedding_model": "bench",
            "embeddings": [vectors[i].tolist()],
            "enrolled_ts_ms": 0,
        }
        for i in range(PERSONS)
    ]


def detection_events(
    rng: np.random.Generator, n: int, t0_ms: int, *, prefix: str = "cam"
) -> list[dict[str, Any]]:
    """People walking across the frame (5 per frame) and one unknown face per frame."""
    events = []
    for k in range(n):
        cam, seq = k % CAMERAS, k // CAMERAS
        dets = []
        for j in range(5):
            x = (0.05 + 0.003 * seq + 0.18 * j) % 0.9
            dets.append(_det("person", x, 0.3 + 0.1 * j, 0.9, None))
        face = rng.normal(size=DIM).astype(np.float32)
        dets.append(_det("face", 0.5, 0.2, 0.9, (face / np.linalg.norm(face)).tolist()))
        ts = t0_ms + seq * 100
        events.append(
            {
                "frame_id": f"{prefix}{cam}-{seq}",
                "camera_id": f"{prefix}{cam}",
                "sequence": seq,
                "capture_ts_ms": ts,
                "inference_ts_ms": ts,
                "model_name": "bench",
                "model_version": "1",
                "frame_width": 640,
                "frame_height": 480,
                "detections": dets,
                "image_stats": {"brightness": 0.5, "contrast": 0.2, "sharpness": 1.0},
            }
        )
    return events


def _det(label: str, x: float, y: float, score: float, emb: list[float] | None) -> dict[str, Any]:
    box = {"x_min": x, "y_min": y - 0.2, "x_max": x + 0.1, "y_max": y}
    if label == "face":
        box = {"x_min": x, "y_min": y, "x_max": x + 0.1, "y_max": y + 0.12}
    return {
        "label": label,
        "class_id": 0,
        "score": score,
        "box": box,
        "embedding": emb,
        "track_id": None,
    }


def bench_engine(
    rules: RuleSet, watch: Watchlist, events: list[dict[str, Any]], batch: int
) -> dict[str, Any]:
    """``batch`` events' faces are matched in one product, as the app does (1: per frame)."""
    states: dict[str, bytes] = {}
    start = time.perf_counter()
    alerts = 0
    for b in range(0, len(events), batch):
        chunk = events[b : b + batch]
        for ev, found in zip(chunk, match_faces(chunk, rules, watch), strict=True):
            state = CameraState.loads(states.get(ev["camera_id"]))
            alerts += len(process(ev, state, rules, watch, found).notifications)
            states[ev["camera_id"]] = state.dumps()
    elapsed = time.perf_counter() - start
    dets = sum(len(e["detections"]) for e in events)
    return {
        "batch": batch,
        "events": len(events),
        "detections_per_s": round(dets / elapsed),
        "events_per_s": round(len(events) / elapsed),
        "alerts": alerts,
    }


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def bench_app(home: Path, rng: np.random.Generator, backlog: int, paced: int) -> dict[str, Any]:
    broker = KafkaBroker(
        home=home / "kafka",
        cache_dir=VigilSettings().cache_dir,
        port=free_port(),
        controller_port=free_port(),
    )
    broker.start(timeout_s=180)
    try:
        settings = VigilSettings(
            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
            topics=TopicSettings(prefix=f"bench{uuid.uuid4().hex[:6]}"),
            data_dir=home / "data",
            cache_dir=VigilSettings().cache_dir,
        )
        prepare_topics(settings)
        poi_topic = Topic.POI.name_in(settings.topics)
        serde = serde_for(settings, Topic.POI)
        prod = kafka.producer(settings)
        for rec in watchlist_records(rng):
            kafka.produce(
                prod, poi_topic, serde.serialize(rec, topic=poi_topic), key=rec["person_id"]
            )
        prod.flush(60)
        rules = home / "rules.yaml"
        rules.write_text(rules_yaml())
        app = AlertsProcess(settings, rules, home / "alerts.log")
        group = f"{settings.topics.prefix}-alerting"
        try:
            now = int(time.time() * 1000)
            warm = detection_events(rng, CAMERAS, now, prefix="warm")
            publish_detections(settings, warm)
            read_topic(settings, Topic.ALERTS, want=1, timeout_s=180, proc=app)
            wait_committed(settings, group, len(warm), timeout_s=120)
            # throughput from a backlog
            events = detection_events(rng, backlog, int(time.time() * 1000))
            publish_detections(settings, events)
            start = time.monotonic()
            wait_committed(settings, group, len(warm) + len(events), timeout_s=600)
            elapsed = time.monotonic() - start
            dets = sum(len(e["detections"]) for e in events)
            # latency: new incidents at a modest pace, stamped at publish time
            watcher = AlertWatcher(settings).start()
            det_topic = Topic.DETECTIONS.name_in(settings.topics)
            det_serde = serde_for(settings, Topic.DETECTIONS)
            for i in range(paced):
                ev = detection_events(rng, 1, 0, prefix=f"lat{i}-")[0]
                ev["capture_ts_ms"] = ev["inference_ts_ms"] = int(time.time() * 1000)
                kafka.produce(
                    prod, det_topic, det_serde.serialize(ev, topic=det_topic), key=ev["camera_id"]
                )
                prod.flush(10)
                time.sleep(0.1)
            produced_lat, consumer_lat = watcher.wait(paced, timeout_s=60)
        finally:
            app.stop()
        return {
            "backlog_events": len(events),
            "detections_per_s": round(dets / elapsed),
            "events_per_s": round(len(events) / elapsed),
            "latency_alert_produced_ms": {
                "p50": _pct(produced_lat, 50),
                "p99": _pct(produced_lat, 99),
                "n": len(produced_lat),
            },
            "latency_visible_read_committed_ms": {
                "p50": _pct(consumer_lat, 50),
                "p99": _pct(consumer_lat, 99),
                "n": len(consumer_lat),
            },
            "commit_interval_s": settings.alerting.commit_interval_s,
        }
    finally:
        broker.stop()


class AlertWatcher:
    """A read_committed consumer from the end of vigil.alerts, noting when each alert of the
    paced phase becomes visible."""

    def __init__(self, settings: VigilSettings) -> None:
        self.settings = settings
        self.serde = serde_for(settings, Topic.ALERTS)
        self.produced: list[float] = []
        self.visible: list[float] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> AlertWatcher:
        self._thread.start()
        self._ready.wait(30)
        return self

    def _run(self) -> None:
        topic = Topic.ALERTS.name_in(self.settings.topics)
        cons = kafka.consumer(self.settings, f"bench-{uuid.uuid4().hex[:6]}")
        ends = kafka.end_offsets(cons, topic)
        cons.assign(ends)
        self._ready.set()
        try:
            while not self._stop.is_set():
                msg = cons.poll(0.05)
                if msg is None or msg.error() is not None:
                    continue
                now = time.time() * 1000
                alert = self.serde.decode(msg)
                if str(alert["camera_id"]).startswith("lat"):
                    self.produced.append(alert["alert_ts_ms"] - alert["capture_ts_ms"])
                    self.visible.append(now - alert["capture_ts_ms"])
        finally:
            cons.close()

    def wait(self, n: int, timeout_s: float) -> tuple[list[float], list[float]]:
        deadline = time.monotonic() + timeout_s
        while len(self.visible) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(10)
        return list(self.produced), list(self.visible)


def main() -> None:
    rng = np.random.default_rng(0)
    rules = parse_rules(rules_yaml())
    watch = Watchlist()
    for rec in watchlist_records(rng):
        watch.apply(rec["person_id"], rec)
    result: dict[str, Any] = {
        "benchmark": "alerts",
        "python": platform.python_version(),
        "rules": len(rules.rules),
        "watchlist_persons": len(watch),
        "embedding_dim": DIM,
        "detections_per_event": 6,
        "engine_per_frame": bench_engine(rules, watch, detection_events(rng, 1000, 0), 1),
        "engine_batched": bench_engine(rules, watch, detection_events(rng, 2000, 0), 64),
    }
    with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
        result["app"] = bench_app(Path(tmp), rng, backlog=3000, paced=60)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
