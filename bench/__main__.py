"""``python -m bench`` (``make bench``): every bench in one run, printed as one JSON document:
each bench's own document under its name, the machine with its load before and after each
bench, and every goal of the run (figure, goal, met, and the measured reason where not met)
gathered by its path. ``--only a,b`` runs some of them; ``--out FILE`` also writes the
document, which ``python -m bench.table`` turns into the README's performance table.

A bench that fails is reported with its error and the others still run; the exit status is 1
then. A goal not met does not fail the run: it is a figure to read, with its reason.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.goals import goals_of
from bench.machine import machine

# in the order they run; each module's ``run()`` returns its document
BENCHES = (
    "serde",
    "models",
    "ingest",
    "cameras",
    "worker",
    "latency",
    "motion",
    "sink",
    "sink_decode",
    "drift",
    "alerts",
)


def run_all(names: list[str]) -> tuple[dict[str, Any], bool]:
    """The document of one run of ``names``, and whether every bench ran."""
    benches: dict[str, Any] = {}
    ok = True
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        before, start = machine(), time.monotonic()
        try:
            doc = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:
            ok = False
            doc = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        benches[name] = {
            **doc,
            "load_before": before["loadavg_1_5_15"],
            "load_after": machine()["loadavg_1_5_15"],
            "seconds": round(time.monotonic() - start, 1),
        }
    goals = goals_of(benches)
    document = {
        "run": "make bench",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "goals_met": sum(g["met"] for g in goals.values()),
        "goals": goals,
        "benches": benches,
    }
    return document, ok


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated, of: {','.join(BENCHES)}")
    parser.add_argument("--out", type=Path, help="also write the document here")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    document, ok = run_all(names)
    text = json.dumps(document, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
