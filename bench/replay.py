"""Replay and eval speed, side by side in one run (prints JSON):

- replay: ``vigil replay``'s machinery over a recorded range of frames with the default
  detector, frames/s from the first frame read;
- limit: the live worker's in-process limit from ``bench.worker`` (decode + infer +
  postprocess, no Kafka) on the same frames and batch; live: the live worker over Kafka
  (goal: replay >= 0.9 of the limit);
- eval: ``vigil eval``'s report over 100k frames' detections of two models in embedded
  ClickHouse (3 objects a frame), and writing its JSON + HTML.

Run: ``python -m bench.replay`` (needs the prepared default detector).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.goals import goal
from bench.worker import limit, settings_for, vigil_worker
from evaluation.report import EvalRequest, build_report, write_report
from gpu_workers.replay.run import ReplayRequest, run_replay
from gpu_workers.zoo import prepare
from vigil import kafka
from vigil.clickhouse import connect
from vigil.testing import bikes_jpegs, kafka_broker, now_ms, produce_timed
from vigil.topics import ensure_topics, topic_specs
from vigil_app.settings import KafkaSettings, VigilSettings

FRAMES = int(os.environ.get("VIGIL_BENCH_FRAMES", "240"))
EVAL_FRAMES = int(os.environ.get("VIGIL_BENCH_EVAL_FRAMES", "100000"))
SIZE = (640, 272)
BATCH = 8
ROUNDS = int(os.environ.get("VIGIL_BENCH_ROUNDS", "2"))


def replay_speed(base: VigilSettings, jpegs: list[bytes]) -> float:
    s = settings_for(base, BATCH, "replay")
    ensure_topics(kafka.admin(s), topic_specs(s.topics))
    start = now_ms() - 10 * len(jpegs) - 1_000
    for cam in range(4):
        produce_timed(s, f"cam{cam}", jpegs[cam::4], start, 40)
    result = run_replay(s, ReplayRequest(start - 1, now_ms(), s.models.detector))
    if result.replayed != len(jpegs):
        raise RuntimeError(f"replayed {result.replayed} of {len(jpegs)} frames")
    return result.frames_per_s


def _synthesize(client: Any, db: str, frames: int) -> None:
    """Two models' detections of ``frames`` frames, generated inside ClickHouse: the candidate
    misses every 17th object and scores a little differently."""
    frame_cols = (
        "kafka_topic, kafka_partition, kafka_offset, frame_id, camera_id, sequence, "
        "capture_ts_ms, inference_ts_ms, model_name, model_version, frame_width, frame_height, "
        "brightness, contrast, sharpness, detection_count, embedding_count"
    )
    det_cols = (
        "kafka_topic, kafka_partition, kafka_offset, object_index, frame_id, camera_id, "
        "sequence, capture_ts_ms, inference_ts_ms, model_name, model_version, frame_width, "
        "frame_height, label, class_id, score, x_min, y_min, x_max, y_max, track_id, has_embedding"
    )
    t0 = time.time_ns() // 1_000_000 - 3_600_000  # within the detections TTL
    for topic, version, drop, shift in (
        ("b.detections", "1", 0, 0.0),
        ("c.detections", "2", 17, 0.02),
    ):
        frame = "intDiv(number, 3)"
        client.query(
            f"INSERT INTO {db}.frames ({frame_cols}) SELECT '{topic}', 0, number, "  # noqa: S608
            "concat('f', toString(number)), concat('cam', toString(number % 8)), number, "
            f"{t0} + number * 40, {t0} + number * 40 + 30, 'bench', '{version}', 640, 272, "
            f"0.5, 0.2, 100, 3, 0 FROM numbers({frames})"
        )
        keep = f"WHERE number % {drop} != 1" if drop else ""
        client.query(
            f"INSERT INTO {db}.detections ({det_cols}) SELECT '{topic}', 0, {frame}, "  # noqa: S608
            f"number % 3, concat('f', toString({frame})), "
            f"concat('cam', toString({frame} % 8)), {frame}, {t0} + {frame} * 40, "
            f"{t0} + {frame} * 40 + 30, 'bench', '{version}', 640, 272, "
            "arrayElement(['person', 'car', 'bicycle'], number % 3 + 1), number % 3, "
            f"0.5 + (cityHash64(number) % 500) / 1000 + {shift}, "
            "(number % 3) * 0.3, 0.1, (number % 3) * 0.3 + 0.2, 0.5, NULL, 0 "
            f"FROM numbers({frames * 3}) {keep}"
        )


def eval_speed(base: VigilSettings, out: Path) -> dict[str, Any]:
    from connectors.sinks.clickhouse.schema import Retention, migrate

    client = connect(base)
    db = base.clickhouse.database
    migrate(client, db, Retention())
    _synthesize(client, db, EVAL_FRAMES)
    req = EvalRequest("bench@1", "bench@2", ("b.detections",), ("c.detections",))
    t0 = time.perf_counter()
    report = build_report(client, db, req)
    t1 = time.perf_counter()
    write_report(report, out)
    t2 = time.perf_counter()
    client.close()
    return {
        "frames": EVAL_FRAMES,
        "detections_per_model": EVAL_FRAMES * 3,
        "report_s": round(t1 - t0, 2),
        "write_json_html_s": round(t2 - t1, 2),
        "agreement": round(report["agreement"], 4),
    }


def run() -> dict[str, Any]:
    cache = VigilSettings().cache_dir
    prepare(cache)
    jpegs = bikes_jpegs(FRAMES, SIZE, step=1)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-replay-") as tmp:
        home = Path(tmp)
        with kafka_broker(home / "kafka", cache) as broker:
            base = VigilSettings(
                kafka=KafkaSettings(bootstrap_servers=broker.bootstrap), data_dir=home / "data"
            )
            # The machine is shared: alternate the contenders, keep each one's best round.
            best = {"limit": 0.0, "live": 0.0, "replay": 0.0}
            for _round in range(ROUNDS):
                best["limit"] = max(best["limit"], limit(base, jpegs, BATCH))
                best["live"] = max(best["live"], vigil_worker(base, jpegs, BATCH))
                best["replay"] = max(best["replay"], replay_speed(base, jpegs))
            evaluation = eval_speed(base, home / "eval")
    result = {
        "bench": "replay",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "frames": FRAMES,
        "frame_size": list(SIZE),
        "batch": BATCH,
        "model": base.models.detector,
        "rounds": ROUNDS,
        "limit_frames_per_s": round(best["limit"], 1),
        "live_worker_frames_per_s": round(best["live"], 1),
        "replay_frames_per_s": round(best["replay"], 1),
        "replay_over_limit": goal(round(best["replay"] / best["limit"], 3), ">=", 0.9),
        "replay_over_live_worker": round(best["replay"] / best["live"], 3),
        "eval": evaluation,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return result


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
