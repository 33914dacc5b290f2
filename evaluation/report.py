"""The evaluation report: one JSON-ready dict, built from ClickHouse and optional labels and
rules; written as ``report.json`` and ``report.html`` side by side."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation import coco
from evaluation.alerts import alerts_of, diff_alerts
from evaluation.html import render_html
from evaluation.matching import compare
from evaluation.source import Frame, ModelRef, Window, load_frames, resolve
from streams.alerting.rules import load_rules
from vigil.clickhouse import ClickHouseClient

BINS = 20


@dataclass(frozen=True)
class EvalRequest:
    baseline: str
    candidate: str
    baseline_topics: tuple[str, ...]
    candidate_topics: tuple[str, ...]
    window: Window = field(default_factory=Window)
    labels: Path | None = None
    rules: Path | None = None
    iou: float = 0.5
    runs_dir: Path | None = None  # replay run summaries (speed as the replay measured it)
    extra: dict[str, Any] = field(default_factory=dict)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _deltas(
    base: Mapping[str, Frame], cand: Mapping[str, Frame], frames: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Counts and mean scores per label, and per camera x label, on the same frames."""
    scores: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # side, camera, label
    for fid in frames:
        for side, frame in (("baseline", base[fid]), ("candidate", cand[fid])):
            for d in frame.detections:
                scores[(side, frame.camera_id, d.label)].append(d.score)

    def rows(key_of: Any) -> list[dict[str, Any]]:
        grouped: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(
            lambda: {"baseline": [], "candidate": []}
        )
        for (side, camera, label), values in scores.items():
            grouped[key_of(camera, label)][side].extend(values)
        out = []
        for key, sides in sorted(grouped.items()):
            b, c = sides["baseline"], sides["candidate"]
            mb, mc = _mean(b), _mean(c)
            out.append(
                {
                    **dict(zip(("camera_id", "label")[-len(key) :], key, strict=True)),
                    "baseline_count": len(b),
                    "candidate_count": len(c),
                    "count_delta": len(c) - len(b),
                    "baseline_mean_score": mb,
                    "candidate_mean_score": mc,
                    "score_delta": None if mb is None or mc is None else mc - mb,
                }
            )
        return out

    return {
        "per_label": rows(lambda _camera, label: (label,)),
        "per_camera_label": rows(lambda camera, label: (camera, label)),
    }


def _histogram(frames: Iterable[Frame]) -> list[int]:
    counts = [0] * BINS
    for frame in frames:
        for d in frame.detections:
            counts[min(BINS - 1, max(0, int(d.score * BINS)))] += 1
    return counts


def _speed(frames: Mapping[str, Frame]) -> dict[str, Any]:
    """What the records say: inference throughput over their span, capture-to-inference."""
    if not frames:
        return {"frames": 0}
    inferred = [f.inference_ts_ms for f in frames.values()]
    span_s = (max(inferred) - min(inferred)) / 1000.0
    delays = [float(f.inference_ts_ms - f.capture_ts_ms) for f in frames.values()]
    return {
        "frames": len(frames),
        "inference_span_s": span_s,
        "frames_per_s": len(frames) / span_s if span_s > 0 else None,
        "capture_to_inference_p50_ms": _quantile(delays, 0.5),
        "capture_to_inference_p95_ms": _quantile(delays, 0.95),
    }


def _runs(runs_dir: Path | None, model: ModelRef) -> list[dict[str, Any]]:
    if runs_dir is None or not runs_dir.is_dir():
        return []
    out = []
    for path in sorted(runs_dir.glob("*.json")):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if run.get("model") == model.label:
            out.append(run)
    return out


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _against_labels(
    truth: coco.GroundTruth, frames: Mapping[str, Frame], iou: float
) -> dict[str, Any]:
    preds = {fid: f.detections for fid, f in frames.items()}
    m_ap, per = coco.evaluate(truth, preds, iou)
    return {
        "map50": _nan_to_none(m_ap),
        "frames_with_records": sum(1 for fid in truth.frames if fid in frames),
        "per_label": {
            label: {
                "ap50": _nan_to_none(s.ap),
                "precision": s.precision,
                "recall": s.recall,
                "objects": s.objects,
                "detections": s.detections,
            }
            for label, s in per.items()
        },
    }


def build_report(client: ClickHouseClient, db: str, req: EvalRequest) -> dict[str, Any]:
    base_ref = resolve(client, db, req.baseline, req.baseline_topics)
    cand_ref = resolve(client, db, req.candidate, req.candidate_topics)
    base = load_frames(client, db, base_ref, req.window)
    cand = load_frames(client, db, cand_ref, req.window)
    common = sorted(set(base) & set(cand))
    result = compare(((base[f].detections, cand[f].detections) for f in common), req.iou)
    total = result.total
    report: dict[str, Any] = {
        "baseline": {**base_ref.__dict__, "model": base_ref.label, "frames": len(base)},
        "candidate": {**cand_ref.__dict__, "model": cand_ref.label, "frames": len(cand)},
        "window": req.window.__dict__ | {"cameras": list(req.window.cameras)},
        "iou_threshold": req.iou,
        "frames_compared": len(common),
        "baseline_only_frames": len(set(base) - set(cand)),
        "candidate_only_frames": len(set(cand) - set(base)),
        "agreement": result.agreement,
        "frame_agreement": result.frame_agreement,
        "candidate_vs_baseline": {
            "overall": total.as_dict(),
            "per_label": {k: t.as_dict() for k, t in sorted(result.labels.items())},
        },
        "matched_pairs": {
            "max_score_diff": result.max_score_diff,
            "max_box_diff": result.max_box_diff,
        },
        "deltas": _deltas(base, cand, common),
        "score_histograms": {
            "bins": [i / BINS for i in range(BINS + 1)],
            "baseline": _histogram(base[f] for f in common),
            "candidate": _histogram(cand[f] for f in common),
        },
        "labels": None,
        "alerts": None,
        "speed": {
            "baseline": {**_speed(base), "replay_runs": _runs(req.runs_dir, base_ref)},
            "candidate": {**_speed(cand), "replay_runs": _runs(req.runs_dir, cand_ref)},
        },
        **req.extra,
    }
    if req.labels is not None:
        truth = coco.load_labels(req.labels)
        report["labels"] = {
            "file": str(req.labels),
            "frames": len(truth.frames),
            "categories": list(truth.categories),
            "baseline": _against_labels(truth, base, req.iou),
            "candidate": _against_labels(truth, cand, req.iou),
        }
    if req.rules is not None:
        rules = load_rules(req.rules)
        diff = diff_alerts(
            alerts_of({f: base[f] for f in common}, rules),
            alerts_of({f: cand[f] for f in common}, rules),
        )
        report["alerts"] = {"rules": str(req.rules), **diff.as_dict()}
    return report


def write_report(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``report.json`` and the self-contained ``report.html`` in ``out_dir``."""

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "report.json", out_dir / "report.html"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
