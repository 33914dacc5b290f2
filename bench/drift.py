"""Drift stream throughput and state size: 50 cameras x 2 model versions of DetectionEvents made
by the real SSD from bikes.mp4 frames (cached), side by side:

- the pure engine in-process (the statistics' own cost);
- ``vigil drift`` (Quix Streams, exactly-once, RocksDB + changelog, real broker) as a
  subprocess, draining a backlog produced beforehand: events/s and detections/s from its
  first output to its last window;
- memory per (camera, model version): the state value (JSON, as the changelog stores it) with
  one open window and the reference, and the Python heap of one window summary.

Prints JSON. Run: ``make bench`` or ``python -m bench.drift``. Starts its own broker.
"""

from __future__ import annotations

import itertools
import json
import platform
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from streams.drift.engine import DriftEngine
from streams.drift.process import DriftProcess
from streams.drift.samples import FramePool, stream
from streams.drift.window import add_event, empty
from vigil.testing import (
    TopicReader,
    bikes_mp4,
    closed_windows,
    kafka_broker,
    produce_events,
    provision,
)
from vigil.topics import Topic
from vigil_app.demo.drift import load_default_pool
from vigil_app.settings import DriftSettings, KafkaSettings, TopicSettings, VigilSettings

CAMERAS, VERSIONS, LOOPS = 50, ("v1", "v2"), 5
FRAME_MS = 100  # event time between frames


def events(pool: FramePool) -> list[dict[str, Any]]:
    streams = [
        stream(pool, f"cam{c:02d}", LOOPS, frame_ms=FRAME_MS, seed=c, model_version=v)
        for c in range(CAMERAS)
        for v in VERSIONS
    ]
    # interleave the cameras, as a live deployment would
    return [e for batch in itertools.zip_longest(*streams) for e in batch if e is not None]


def engine_rate(cfg: DriftSettings, evs: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    engine = DriftEngine(cfg, state)
    t0 = time.perf_counter()
    windows = sum(len(engine.process(e, i)) for i, e in enumerate(evs))
    elapsed = time.perf_counter() - t0
    dets = sum(len(e["detections"]) for e in evs)
    value_bytes = [len(json.dumps(v)) for v in state.values()]
    return {
        "events_per_s": round(len(evs) / elapsed),
        "detections_per_s": round(dets / elapsed),
        "windows_closed": windows,
        "state_value_bytes_mean": round(sum(value_bytes) / len(value_bytes)),
    }


def summary_heap_bytes(pool: FramePool) -> int:
    rows = [{**r, "camera_id": "c"} for r in pool.frames["original"]]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    summaries = []
    for _ in range(100):
        s = empty()
        for r in rows:
            add_event(s, r)
        summaries.append(s)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return round((after - before) / len(summaries))


def app_rate(settings: VigilSettings, evs: list[dict[str, Any]], log: Path) -> dict[str, Any]:
    provision(settings)
    window_ms = round(settings.drift.window_s * 1000)
    warm = [
        {**evs[0], "camera_id": "warmup", "capture_ts_ms": ts, "frame_id": f"w{ts}"}
        for ts in (0, 3 * window_ms)
    ]
    app = DriftProcess(settings, log)
    drift = TopicReader(settings, Topic.DRIFT)
    try:
        app.start()
        produce_events(settings, Topic.DETECTIONS, warm)
        drift.until(lambda rs: closed_windows(rs, "warmup") >= 1, 120, app)
        t0 = time.monotonic()
        produce_events(settings, Topic.DETECTIONS, evs)
        produced_s = time.monotonic() - t0
        expected = CAMERAS * len(VERSIONS) * (LOOPS - 1)
        drift.until(
            lambda rs: (
                len(
                    {
                        (r["camera_id"], r["model_version"], r["window_start_ms"])
                        for r in rs
                        if r["feature"] == "late_events"
                    }
                )
                >= expected + 1
            ),
            900,
            app,
        )
        elapsed = time.monotonic() - t0
    finally:
        drift.close()
        app.stop()
    dets = sum(len(e["detections"]) for e in evs)
    return {
        "events_per_s": round(len(evs) / elapsed),
        "detections_per_s": round(dets / elapsed),
        "produce_s": round(produced_s, 2),
        "elapsed_s": round(elapsed, 2),
    }


def run() -> dict[str, Any]:
    cache = VigilSettings().cache_dir
    pool = load_default_pool(cache, bikes_mp4())
    cfg = DriftSettings(window_s=len(pool) * FRAME_MS / 1000, allowed_lateness_s=1.0)
    evs = events(pool)
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "cameras": CAMERAS,
        "model_versions": len(VERSIONS),
        "events": len(evs),
        "detections": sum(len(e["detections"]) for e in evs),
        "frames_per_window": round(len(evs) / (CAMERAS * len(VERSIONS) * LOOPS)),
        "engine_in_process": engine_rate(cfg, evs),
        "window_summary_heap_bytes": summary_heap_bytes(pool),
    }
    with tempfile.TemporaryDirectory(prefix="vigil-bench-drift-") as tmp:
        home = Path(tmp)
        with kafka_broker(home / "kafka", cache) as broker:
            settings = VigilSettings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
                topics=TopicSettings(prefix=f"bench{uuid.uuid4().hex[:6]}"),
                data_dir=home / "data",
                cache_dir=cache,
                drift=cfg.model_copy(update={"session_timeout_s": 6.0}),
            )
            result["drift_app"] = app_rate(settings, evs, home / "drift.log")
    app, eng = result["drift_app"], result["engine_in_process"]
    result["app_vs_engine_ratio"] = round(app["events_per_s"] / eng["events_per_s"], 4)
    return result


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
