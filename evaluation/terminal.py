"""The evaluation summary as rich tables in the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_report(console: Console, r: Mapping[str, Any], max_rows: int = 12) -> None:
    base, cand = r["baseline"]["model"], r["candidate"]["model"]
    overall = r["candidate_vs_baseline"]["overall"]
    summary = Table(title=f"vigil eval: {cand} (candidate) vs {base} (baseline)")
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("frames compared (both models)", str(r["frames_compared"]))
    summary.add_row(
        "frames only the baseline / candidate has",
        f"{r['baseline_only_frames']} / {r['candidate_only_frames']}",
    )
    summary.add_row("agreement (matched / all detections)", f"{r['agreement']:.2%}")
    summary.add_row("frames where every detection matches", f"{r['frame_agreement']:.2%}")
    summary.add_row(
        "candidate precision / recall / F1 vs baseline",
        f"{overall['precision']:.3f} / {overall['recall']:.3f} / {overall['f1']:.3f}",
    )
    summary.add_row(
        "max score / box difference of matched pairs",
        f"{r['matched_pairs']['max_score_diff']:.2e} / {r['matched_pairs']['max_box_diff']:.2e}",
    )
    if r.get("labels"):
        lab = r["labels"]
        summary.add_row(
            f"mAP@0.5 vs labels ({lab['frames']} frames): baseline", _f(lab["baseline"]["map50"])
        )
        summary.add_row("mAP@0.5 vs labels: candidate", _f(lab["candidate"]["map50"]))
    if r.get("alerts"):
        a = r["alerts"]
        summary.add_row(
            "alerts baseline / candidate", f"{a['baseline_alerts']} / {a['candidate_alerts']}"
        )
        summary.add_row(
            "alerts the candidate adds / removes", f"{len(a['added'])} / {len(a['removed'])}"
        )
    for side, name in (("baseline", base), ("candidate", cand)):
        s = r["speed"][side]
        runs = s.get("replay_runs") or []
        fps = runs[-1].get("frames_per_s") if runs else s.get("frames_per_s")
        summary.add_row(f"speed {name} (frames/s)", _f(fps, 1))
    console.print(summary)
    if not r["frames_compared"]:
        console.print(
            "[yellow]no frame was recorded by both models in this window: replay the same "
            "range (vigil replay) and sink it into ClickHouse first[/]"
        )

    labels = Table(title="per label: candidate vs baseline (same frames)")
    for col in (
        "label",
        "baseline",
        "candidate",
        "delta",
        "precision",
        "recall",
        "F1",
        "score delta",
    ):
        labels.add_column(col, justify="left" if col == "label" else "right")
    per = r["candidate_vs_baseline"]["per_label"]
    deltas = {d["label"]: d for d in r["deltas"]["per_label"]}
    ordered = sorted(deltas, key=lambda k: -(deltas[k]["baseline_count"]))
    for label in ordered[:max_rows]:
        d, t = deltas[label], per.get(label, {})
        labels.add_row(
            label,
            str(d["baseline_count"]),
            str(d["candidate_count"]),
            f"{d['count_delta']:+d}",
            _f(t.get("precision")),
            _f(t.get("recall")),
            _f(t.get("f1")),
            _f(d["score_delta"]),
        )
    if len(ordered) > max_rows:
        labels.add_row(f"... {len(ordered) - max_rows} more in the report", *[""] * 7)
    console.print(labels)
