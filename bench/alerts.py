"""Alerting throughput and latency with 20 rules and a 10,000-person watch-list.

Prints JSON. Measurements side by side in one run:

- ``engine``: the pure rule/tracker/POI step (``streams.alerting.engine.process`` plus the
  state encoding the app's store needs) on one core, detections/s;
- ``app``: the real ``vigil alerts`` process (Quix Streams, exactly-once) on its own broker,
  with the default 0.1 s checkpoint: detections/s sustained from a backlog; then the same mix
  at half that rate with one new incident a second, and its latencies: detection -> alert
  produced (``alert_ts_ms - capture_ts_ms``), detection -> alert visible to a
  ``read_committed`` consumer (its transaction committed), committed alert -> webhook received;
- ``app_commit_interval_1s``: the backlog again with 1 s checkpoints, the throughput that the
  short commit interval costs;
- ``app_separate_delivery``: as ``app``, with delivery in a ``vigil deliver`` process of its
  own. The faust app it replaced is no longer installed: its figures on main are printed
  beside these, not re-measured.

Run: ``make bench`` or ``python -m bench.alerts``.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.alerts_probes import AlertWatcher, Receiver
from schemas.contracts import serde_for
from schemas.types import DetectionEvent
from streams.alerting.camera_state import CameraState
from streams.alerting.engine import match_faces, process
from streams.alerting.rules import RuleSet, parse_rules
from vigil import kafka
from vigil.stack import KafkaBroker
from vigil.testing import (
    AlertsProcess,
    DeliverProcess,
    kafka_broker,
    poll_until,
    provision,
    publish_detections,
    read_topic,
    wait_committed,
)
from vigil.topics import Topic
from vigil.watchlist import Watchlist
from vigil_app.settings import KafkaSettings, TopicSettings, VigilSettings

PERSONS = 10_000
DIM = 1024
CAMERAS = 8


def rules_yaml(webhook: str | None = None) -> str:
    """20 rules: 5 of each trigger, each on a different zone or line; alerts to ``webhook``."""
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
    hooks = f"destinations: {{log: true, webhooks: [{{url: '{webhook}'}}]}}\n" if webhook else ""
    return "rules:\n" + "\n".join(rules) + "\npoi: {threshold: 0.6, near_miss: 0.35}\n" + hooks


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
        typed = cast(list[DetectionEvent], chunk)
        for ev, found in zip(typed, match_faces(typed, rules, watch), strict=True):
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


FAUST_ON_MAIN = {  # the faust-streaming app this replaced, as measured on main (fca571e)
    "detections_per_s": 1476,
    "latency_alert_produced_ms": {"p50": 7, "p99": 13},
    "note": "recorded by the same bench on the same kind of 2-core machine before the move; "
    "faust is no longer installed, so it is not re-measured in this run",
}


def bench_app(
    home: Path,
    rng: np.random.Generator,
    backlog: int,
    commit_interval_s: float,
    paced_s: float = 0.0,
    separate_delivery: bool = False,
) -> dict[str, Any]:
    """``vigil alerts`` on its own broker: detections/s from a backlog; then, if ``paced_s``,
    the same mix at half that rate for ``paced_s`` seconds, one new incident a second among
    it, with detection -> committed alert and committed alert -> webhook latencies."""
    with kafka_broker(home / "kafka") as broker:
        return _bench_app(broker, home, rng, backlog, commit_interval_s, paced_s, separate_delivery)


def _bench_app(
    broker: KafkaBroker,
    home: Path,
    rng: np.random.Generator,
    backlog: int,
    commit_interval_s: float,
    paced_s: float,
    separate_delivery: bool,
) -> dict[str, Any]:
    receiver = Receiver()
    try:
        settings = VigilSettings(
            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
            topics=TopicSettings(prefix=f"bench{uuid.uuid4().hex[:6]}"),
            data_dir=home / "data",
            cache_dir=VigilSettings().cache_dir,
        )
        provision(settings)
        poi_topic = Topic.POI.name_in(settings.topics)
        serde = serde_for(settings, Topic.POI)
        prod = kafka.producer(settings)
        for rec in watchlist_records(rng):
            kafka.produce(
                prod, poi_topic, serde.serialize(rec, topic=poi_topic), key=rec["person_id"]
            )
        prod.flush(60)
        rules = home / "rules.yaml"
        rules.write_text(rules_yaml(receiver.url))
        app = AlertsProcess(
            settings,
            rules,
            home / "alerts.log",
            VIGIL_ALERTING__COMMIT_INTERVAL_S=str(commit_interval_s),
            VIGIL_ALERTING__DELIVER=str(not separate_delivery).lower(),
        )
        deliver = (
            DeliverProcess(settings, rules, home / "deliver.log") if separate_delivery else None
        )
        group = f"{settings.topics.prefix}-alerting"
        result: dict[str, Any] = {
            "commit_interval_s": commit_interval_s,
            "delivery": "vigil deliver (own process)" if separate_delivery else "in vigil alerts",
        }
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
            result |= {
                "backlog_events": len(events),
                "detections_per_s": round(dets / elapsed),
                "events_per_s": round(len(events) / elapsed),
            }
            if paced_s:
                result |= paced(settings, rng, prod, len(events) / elapsed / 2, paced_s, receiver)
        finally:
            app.stop()
            if deliver is not None:
                deliver.stop()
        return result
    finally:
        receiver.close()


def paced(
    settings: VigilSettings,
    rng: np.random.Generator,
    prod: Any,
    rate: float,
    seconds: float,
    receiver: Receiver,
) -> dict[str, Any]:
    """The backlog's mix at ``rate`` events/s, each stamped with its publish time; every
    ``rate``-th event is on a new camera, so it opens incidents whose alerts are timed."""
    watcher = AlertWatcher(settings).start()
    det_topic = Topic.DETECTIONS.name_in(settings.topics)
    det_serde = serde_for(settings, Topic.DETECTIONS)
    mix = detection_events(rng, int(rate * seconds) + CAMERAS, 0, prefix="live")
    every = max(1, round(rate))
    timed = 0
    t0 = time.monotonic()
    for i, ev in enumerate(mix[: int(rate * seconds)]):
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        if i % every == 0:
            ev = detection_events(rng, 1, 0, prefix=f"lat{i}-")[0]
            timed += 1
        ev["capture_ts_ms"] = ev["inference_ts_ms"] = int(time.time() * 1000)
        kafka.produce(
            prod, det_topic, det_serde.serialize(ev, topic=det_topic), key=ev["camera_id"]
        )
        prod.poll(0)
    prod.flush(10)
    produced, visible, seen_at = watcher.wait(timed, timeout_s=60)
    poll_until(lambda: set(seen_at) <= set(receiver.arrived), 30, 0.1)
    to_hook = [receiver.arrived[a] - t for a, t in seen_at.items() if a in receiver.arrived]
    return {
        "paced_events_per_s": round(rate, 1),
        "paced_s": seconds,
        "timed_incidents": timed,
        "latency_alert_produced_ms": _lat(produced),
        "latency_detection_to_committed_alert_ms": _lat(visible),
        "latency_committed_alert_to_webhook_ms": _lat(to_hook),
        "webhook_received": f"{len(to_hook)}/{len(seen_at)}",
    }


def _lat(values: list[float]) -> dict[str, Any]:
    return {"p50": _pct(values, 50), "p99": _pct(values, 99), "n": len(values)}


def run() -> dict[str, Any]:
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
    runs = (
        ("app", 0.1, 20.0, False),
        ("app_commit_interval_1s", 1.0, 0.0, False),
        ("app_separate_delivery", 0.1, 20.0, True),
    )
    for name, interval, paced_s, separate in runs:
        with tempfile.TemporaryDirectory(prefix="vigil-bench-alerts-") as tmp:
            result[name] = bench_app(Path(tmp), rng, 3000, interval, paced_s, separate)
    app, slow = result["app"], result["app_commit_interval_1s"]
    result["faust_on_main"] = FAUST_ON_MAIN
    result["ratios"] = {
        "app_vs_engine_per_frame": round(
            app["detections_per_s"] / result["engine_per_frame"]["detections_per_s"], 3
        ),
        "commit_0.1s_vs_1s_throughput": round(
            app["detections_per_s"] / slow["detections_per_s"], 3
        ),
        "app_vs_faust_on_main_not_same_run": round(
            app["detections_per_s"] / FAUST_ON_MAIN["detections_per_s"], 3
        ),
    }
    return result


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
