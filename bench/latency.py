"""Live latency, measured honestly: the frame producer, the real ``vigil worker`` and a
``read_committed`` reader each run in a process of their own (none shares the worker's GIL),
frames carry their capture time, and the reader stamps each detection as it becomes visible.

First the worker's throughput is measured on a backlog (first to last detection read); then
frames from four cameras arrive at 25 %, 50 % and 80 % of it. Per load: capture -> committed
detection read, p50/p90/p99/max, and the worker's own per-stage breakdown from its
``/metrics`` (per frame: queue = capture -> consumed, batch = consumed -> batch taken; per
batch: decode wait, infer, postprocess, transaction commit).

Needs the prepared default detector. Run: ``python -m bench.latency``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import tempfile
import time
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from bench.goals import goal
from bench.histograms import Histogram, Labels, added, scrape
from bench.machine import machine
from schemas.contracts import serde_for
from vigil import kafka
from vigil.settings import CoreSettings, KafkaSettings, TopicSettings
from vigil.testing import (
    VigilProcess,
    bikes_jpegs,
    frame_event,
    free_port,
    kafka_broker,
    unique_prefix,
    wait_until,
)
from vigil.topics import Topic, ensure_topics, topic_specs

FRAMES = int(os.environ.get("VIGIL_BENCH_FRAMES", "240"))
SIZE = (640, 272)  # bikes.mp4's own frame size
CAMERAS = 4
LOADS = (0.25, 0.5, 0.8)
PHASE_S = float(os.environ.get("VIGIL_BENCH_PHASE_S", "20"))
BACKLOG = int(os.environ.get("VIGIL_BENCH_BACKLOG", "240"))
STAGES = ("vigil_worker_frame_wait_seconds", "vigil_worker_stage_seconds")


def _settings(bootstrap: str, prefix: str) -> CoreSettings:
    return CoreSettings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(prefix=prefix, frames_partitions=CAMERAS),
    )


def producer(
    bootstrap: str, prefix: str, tag: str, jpegs: list[bytes], rate: float, count: int
) -> None:
    """In a process of its own: ``count`` frames round-robin over the cameras, at ``rate``/s
    (0: as fast as possible), each stamped with its capture time as it is sent."""
    s = _settings(bootstrap, prefix)
    topic = Topic.FRAMES.name_in(s.topics)
    serde = serde_for(s, Topic.FRAMES)
    prod = kafka.producer(s, **{"linger.ms": 0})
    # connected, with its metadata and producer id, before the first timed frame: else the
    # first half second of every phase is the producer's start, not the pipeline
    warm = frame_event(f"warm-{tag}", 0, jpegs[0], source_kind="RTSP")
    kafka.produce(prod, topic, serde.serialize(warm, topic=topic), key=warm["camera_id"])
    if prod.flush(30) != 0:
        raise RuntimeError("the producer did not connect")
    time.sleep(0.5)  # the worker is done with it
    start = time.perf_counter()
    for i in range(count):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        camera = f"{tag}-cam{i % CAMERAS}"
        ev = frame_event(camera, i // CAMERAS, jpegs[i % len(jpegs)], source_kind="RTSP")
        kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=camera)
        prod.poll(0)
    if prod.flush(60) != 0:
        raise RuntimeError("frames not delivered")


def reader(bootstrap: str, prefix: str, tag: str, count: int, ready: Any, out: Queue[Any]) -> None:
    """In a process of its own: the detections topic from its current end, ``read_committed``;
    for each detection of this phase's cameras, (receive wall time, capture time) in ms."""
    s = _settings(bootstrap, prefix)
    topic = Topic.DETECTIONS.name_in(s.topics)
    serde = serde_for(s, Topic.DETECTIONS)
    cons = kafka.consumer(s, f"bench-latency-{tag}", **{"fetch.wait.max.ms": 10})
    meta = cons.list_topics(topic, timeout=10).topics[topic]
    starts = []
    for p in meta.partitions:
        _low, high = cons.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        starts.append(TopicPartition(topic, p, high))
    cons.assign(starts)
    ready.set()
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 300
    while len(seen) < count and time.monotonic() < deadline:
        msg = cons.poll(0.2)
        if msg is None or msg.error() is not None:
            continue
        received = time.time_ns() // 1_000_000
        ev = serde.decode(msg)
        if str(ev["camera_id"]).startswith(f"{tag}-"):
            seen.append((received, int(ev["capture_ts_ms"])))
    cons.close()
    out.put(seen)


def _phase(
    ctx: Any, bootstrap: str, prefix: str, tag: str, jpegs: list[bytes], rate: float, count: int
) -> list[tuple[int, int]]:
    """One phase: the reader ready at the topic's end, then the producer; what the reader saw."""
    ready, out = ctx.Event(), ctx.Queue()
    read = ctx.Process(target=reader, args=(bootstrap, prefix, tag, count, ready, out))
    read.start()
    if not ready.wait(60):
        raise RuntimeError("the reader did not start")
    send = ctx.Process(target=producer, args=(bootstrap, prefix, tag, jpegs, rate, count))
    send.start()
    seen: list[tuple[int, int]] = out.get(timeout=400)
    send.join(60)
    read.join(60)
    return seen


def _drain_rate(seen: list[tuple[int, int]]) -> float:
    """Frames/s through a backlog: first to last detection read."""
    first, last = min(r for r, _ in seen), max(r for r, _ in seen)
    return (len(seen) - 1) / max(1e-3, (last - first) / 1000)


def _slow(seen: list[tuple[int, int]], limit_ms: int = 100) -> list[float]:
    """When (s into the phase, by capture time) frames took over ``limit_ms``: a tail spread
    evenly is the worker's pace, one clustered in a few moments is a stall."""
    if not seen:
        return []
    start = min(c for _, c in seen)
    return sorted(round((c - start) / 1000, 2) for r, c in seen if r - c > limit_ms)[:40]


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "p50_ms": at(0.5),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": ordered[-1],
    }


def _stages(
    after: dict[str, dict[Labels, Histogram]], before: dict[str, dict[Labels, Histogram]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in STAGES:
        per = "per_frame" if "frame_wait" in name else "per_batch"
        for labels, h in added(after[name], before[name]).items():
            out[f"{dict(labels)['stage']} ({per})"] = h.summary_ms()
    return out


def run() -> dict[str, Any]:
    jpegs = bikes_jpegs(FRAMES, SIZE, step=1)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="vigil-bench-latency-") as tmp:
        home = Path(tmp)
        with kafka_broker(home / "kafka") as broker:
            prefix = unique_prefix("lat")
            s = _settings(broker.bootstrap, prefix).model_copy(update={"data_dir": home / "data"})
            ensure_topics(kafka.admin(s), topic_specs(s.topics))
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            worker = VigilProcess(
                ["worker", "--instance", "latency"],
                s,
                home / "worker.log",
                VIGIL_METRICS_PORT=str(port),
                VIGIL_TOPICS__FRAMES_PARTITIONS=str(CAMERAS),
                VIGIL_LOG_FORMAT="console",
                VIGIL_WORKER__MOTION__ENABLED="false",  # every frame through the detector
            )
            try:
                # joined and warm: a few frames through before anything is measured
                wait_until(lambda: _alive_metrics(url, worker), 120, "the worker's /metrics")
                _phase(ctx, broker.bootstrap, prefix, "warm", jpegs, 10.0, 20)
                # the shared machine slows a round at times: the best of two is the capacity
                throughput = max(
                    _drain_rate(
                        _phase(ctx, broker.bootstrap, prefix, f"backlog{i}", jpegs, 0.0, BACKLOG)
                    )
                    for i in range(2)
                )
                loads: dict[str, Any] = {}
                for load in LOADS:
                    rate = load * throughput
                    count = max(40, int(rate * PHASE_S))
                    before = {n: scrape(url, n) for n in STAGES}
                    spy = _profile(worker, f"l{int(100 * load)}")
                    got = _phase(
                        ctx, broker.bootstrap, prefix, f"l{int(100 * load)}", jpegs, rate, count
                    )
                    after = {n: scrape(url, n) for n in STAGES}
                    if spy is not None:
                        spy.wait(60)
                    lat = [float(r - c) for r, c in got]
                    loads[f"{int(100 * load)}%"] = {
                        "rate_frames_per_s": round(rate, 1),
                        "frames": count,
                        "received": len(got),
                        **percentiles(lat),
                        "over_100ms_at_s": _slow(got),
                        "stages": _stages(after, before),
                    }
            finally:
                worker.stop()
    half = loads["50%"]
    return {
        "bench": "latency",
        "machine": machine(),
        "processes": "producer, vigil worker, read_committed reader: one process each",
        "frames_cycled": FRAMES,
        "frame_size": list(SIZE),
        "cameras": CAMERAS,
        "worker_throughput_frames_per_s": round(throughput, 1),
        "by_load": loads,
        "goal_p99_at_half_load": goal(half["p99_ms"], "<", 100, unit="ms"),
    }


def _profile(worker: VigilProcess, tag: str) -> subprocess.Popen[bytes] | None:
    """With ``VIGIL_BENCH_PROFILE=DIR``: py-spy samples the worker through the phase (all
    threads but idle ones, collapsed stacks to DIR/worker-<tag>.txt), for reading where the
    time goes; the figures of such a run are the profiled worker's, slower."""
    out = os.environ.get("VIGIL_BENCH_PROFILE")
    if not out:
        return None
    path = Path(out) / f"worker-{tag}.txt"
    args = ["--pid", str(worker.proc.pid), "--duration", str(int(PHASE_S)), "--format", "raw"]
    cmd = ["py-spy", "record", *args, "-o", str(path), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)


def _alive_metrics(url: str, worker: VigilProcess) -> bool:
    if not worker.alive():
        raise RuntimeError(f"the worker exited:\n{worker.log_text()[-3000:]}")
    try:
        scrape(url, STAGES[1])
    except Exception:  # not listening yet
        return False
    return True


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
