"""The soak (``make soak``, not in CI): ``--cameras`` looping file cameras at ``--fps`` in real
time, and the uploader, through the whole pipeline (tests/faults/pipeline.py) for
``--minutes``. Every ``--sample-s`` it records each process's RSS (with its children) and each
consumer group's lag; at the end it drains and runs the exactly-once checker, and writes one
JSON document: RSS growth after the warm-up per process (goal: at most 5 %), its slope, the
lag's maximum after the warm-up and at the end, the ERROR lines of every log, and the check.

    python -m tests.faults.soak --minutes 30 --out bench/results-soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.faults.pipeline import Pipeline
from vigil import testing
from vigil.stack import find_server_binary


def lag(pipe: Pipeline) -> dict[str, int]:
    """Records not yet committed, per consumer group, summed over its partitions."""
    ends = pipe.end_offsets()
    out = {}
    for group, (_comp, roles) in pipe.groups().items():
        done = pipe.committed(group, roles)
        out[group.removeprefix(pipe.settings.topics.prefix + "-")] = sum(
            max(0, ends[key] - off) for key, off in done.items() if key in ends
        )
    return out


def growth(samples: list[tuple[float, int]], warm_s: float) -> dict[str, float] | None:
    """RSS after the warm-up: the mean of its first and last tenth (MiB), the growth between
    them (%), and the least-squares slope (MiB per hour)."""
    after = [(t, v) for t, v in samples if t >= warm_s and v > 0]
    if len(after) < 10:
        return None
    tenth = max(1, len(after) // 10)
    first = statistics.fmean(v for _t, v in after[:tenth]) / 2**20
    last = statistics.fmean(v for _t, v in after[-tenth:]) / 2**20
    ts = [t for t, _v in after]
    vs = [v / 2**20 for _t, v in after]
    slope = statistics.linear_regression(ts, vs).slope * 3600
    return {
        "start_mib": round(first, 1),
        "end_mib": round(last, 1),
        "growth_pct": round(100 * (last - first) / first, 2),
        "slope_mib_per_h": round(slope, 2),
    }


def error_lines(pipe: Pipeline) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(pipe.logs().glob("*.log")):
        bad = [
            line[:300]
            for line in path.read_text(errors="replace").splitlines()
            if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line or "Traceback" in line
        ]
        if bad:
            out[path.stem] = bad[:20] + ([f"... {len(bad)} in all"] if len(bad) > 20 else [])
    return out


def soak(args: argparse.Namespace) -> dict[str, Any]:
    if find_server_binary() is None:
        raise SystemExit("the soak needs Debian's clickhouse-server (make system-deps)")
    home = Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    began = time.monotonic()
    with (
        testing.kafka_cluster(home / "kafka", brokers=args.brokers) as cluster,
        testing.clickhouse_server(home / "clickhouse") as clickhouse,
    ):
        pipe = Pipeline(
            home,
            cluster,
            clickhouse,
            cameras=args.cameras,
            fps=args.fps,
            uploads_per_s=args.uploads_per_s,
        )
        try:
            pipe.start()
            t0 = time.monotonic()
            rss: dict[str, list[tuple[float, int]]] = {}
            lags: list[tuple[float, dict[str, int]]] = []
            while (now := time.monotonic() - t0) < args.minutes * 60:
                for name, value in pipe.rss().items():
                    rss.setdefault(name, []).append((now, value))
                lags.append((now, lag(pipe)))
                print(f"{now:7.0f}s lag {lags[-1][1]}", flush=True)
                time.sleep(max(0.0, args.sample_s - (time.monotonic() - t0 - now)))
            frames_before_drain = pipe.clickhouse_count("frames")
            pipe.drain(timeout_s=900)
            report = pipe.check(final=True)
        finally:
            pipe.stop()
        warm = args.warmup_minutes * 60
        after = [lg for t, lg in lags if t >= warm]
        groups = sorted({g for _t, lg in lags for g in lg})
        return {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.node()}: {os.cpu_count()} cores, {platform.machine()}",
            "minutes": args.minutes,
            "warmup_minutes": args.warmup_minutes,
            "cameras": args.cameras,
            "fps": args.fps,
            "uploads_per_s": args.uploads_per_s,
            "brokers": args.brokers,
            "wall_s": round(time.monotonic() - began, 1),
            "frames_in_clickhouse_before_drain": frames_before_drain,
            "rss": {name: growth(s, warm) for name, s in sorted(rss.items())},
            "rss_samples": {name: [v for _t, v in s] for name, s in sorted(rss.items())},
            "lag_max_after_warmup": {
                g: max((lg.get(g, 0) for lg in after), default=0) for g in groups
            },
            "lag_end": lags[-1][1] if lags else {},
            "lag_samples": [[round(t), lg] for t, lg in lags],
            "restarts": {n: c.restarts for n, c in pipe.components.items() if c.restarts},
            "errors": error_lines(pipe),
            "check": report.as_json(),
            "problems": report.problems(),
            "events": pipe.events,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--uploads-per-s", type=float, default=1.0)
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results-soak.json"))
    args = parser.parse_args()
    doc = soak(args)
    args.out.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    summary = {k: doc[k] for k in ("minutes", "cameras", "fps", "rss", "lag_max_after_warmup")}
    print(json.dumps(summary, indent=1))
    errors = sum(map(len, doc["errors"].values()))
    print("problems:", doc["problems"] or "none", "| error lines:", errors)
    raise SystemExit(1 if doc["problems"] else 0)


if __name__ == "__main__":
    main()
