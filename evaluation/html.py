"""The self-contained HTML report: inline CSS and SVG charts, no scripts, no external files,
so it can be mailed or attached to a ticket as one file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756")
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
    ".pos{color:#1a7f37}.neg{color:#cf222e}svg{margin:1em 0}"
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return escape(str(value))


def bars(
    title: str, categories: Sequence[str], series: Mapping[str, Sequence[float]], top: float = 1.0
) -> str:
    """Grouped vertical bars: one group per category, one bar per series."""
    per_group = 70 if len(categories) <= 10 else 40
    height, pad = 240, 40
    width = max(360, per_group * len(categories) + 80, 9 * len(title) + pad)
    n = max(1, len(series))
    group = (width - pad - 10) / max(1, len(categories))
    bar = group * 0.8 / n
    legend_h = 18 * n + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + legend_h}">',
        f'<text x="{pad}" y="16" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad}" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>',
    ]
    for tick in (0.0, 0.5, 1.0):
        y = height - (height - 30) * tick
        parts.append(f'<text x="4" y="{y + 4:.1f}" font-size="10">{tick * top:g}</text>')
    for ci, cat in enumerate(categories):
        x0 = pad + ci * group + group * 0.1
        for si, (_name, values) in enumerate(series.items()):
            v = max(0.0, float(values[ci] or 0.0)) / top if top else 0.0
            h = (height - 30) * min(v, 1.0)
            x = x0 + si * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar * 0.95:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[si % len(COLOURS)]}"/>'
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{height + 14}" font-size="10">{escape(cat[:14])}</text>'
        )
    for si, name in enumerate(series):
        y = height + 26 + 18 * si
        parts.append(
            f'<rect x="{pad}" y="{y}" width="10" height="10" fill="{COLOURS[si % len(COLOURS)]}"/>'
            f'<text x="{pad + 14}" y="{y + 9}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(r: Mapping[str, Any]) -> str:
    base, cand = r["baseline"]["model"], r["candidate"]["model"]
    per = r["candidate_vs_baseline"]["per_label"]
    labels = sorted(per)
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Vigil eval: {escape(cand)} "
        f"vs {escape(base)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Is {escape(cand)} better than {escape(base)}?</h1>",
        table(
            ["", "value"],
            [
                ["frames compared", r["frames_compared"]],
                ["agreement (matched / all detections)", r["agreement"]],
                ["frames where every detection matches", r["frame_agreement"]],
                [
                    "candidate precision vs baseline",
                    r["candidate_vs_baseline"]["overall"]["precision"],
                ],
                ["candidate recall vs baseline", r["candidate_vs_baseline"]["overall"]["recall"]],
                ["IoU threshold", r["iou_threshold"]],
            ],
        ),
        "<h2>Candidate vs baseline, per label</h2>",
        bars(
            "precision and recall of the candidate, the baseline as reference",
            labels,
            {
                "precision": [per[k]["precision"] for k in labels],
                "recall": [per[k]["recall"] for k in labels],
            },
        ),
        table(
            ["label", "matched", "candidate only", "baseline only", "precision", "recall", "F1"],
            [
                [
                    k,
                    *(per[k][c] for c in ("matched", "candidate_only", "baseline_only")),
                    per[k]["precision"],
                    per[k]["recall"],
                    per[k]["f1"],
                ]
                for k in labels
            ],
        ),
    ]
    hist = r["score_histograms"]
    edges = hist["bins"]
    top = max([1, *hist["baseline"], *hist["candidate"]])
    out += [
        "<h2>Score distributions</h2>",
        bars(
            "detections per score bin (same frames)",
            [f"{edges[i]:.2f}" for i in range(len(edges) - 1)],
            {base: hist["baseline"], cand: hist["candidate"]},
            top=float(top),
        ),
        "<h2>Counts and scores per label</h2>",
        table(
            [
                "label",
                "baseline",
                "candidate",
                "delta",
                "mean score (b)",
                "mean score (c)",
                "delta score",
            ],
            [
                [
                    d["label"],
                    d["baseline_count"],
                    d["candidate_count"],
                    d["count_delta"],
                    d["baseline_mean_score"],
                    d["candidate_mean_score"],
                    d["score_delta"],
                ]
                for d in r["deltas"]["per_label"]
            ],
        ),
        "<h3>Per camera</h3>",
        table(
            ["camera", "label", "baseline", "candidate", "delta", "delta score"],
            [
                [
                    d["camera_id"],
                    d["label"],
                    d["baseline_count"],
                    d["candidate_count"],
                    d["count_delta"],
                    d["score_delta"],
                ]
                for d in r["deltas"]["per_camera_label"]
            ],
        ),
    ]
    if r.get("labels"):
        lab = r["labels"]
        cats = list(lab["categories"])
        out += [
            f"<h2>Against ground truth ({escape(str(lab['file']))}, {lab['frames']} frames)</h2>",
            table(
                ["model", "mAP@0.5"],
                [[base, lab["baseline"]["map50"]], [cand, lab["candidate"]["map50"]]],
            ),
            bars(
                "AP@0.5 per label",
                cats,
                {
                    base: [lab["baseline"]["per_label"][c]["ap50"] or 0.0 for c in cats],
                    cand: [lab["candidate"]["per_label"][c]["ap50"] or 0.0 for c in cats],
                },
            ),
            table(
                ["label", "objects", "P (b)", "R (b)", "P (c)", "R (c)"],
                [
                    [
                        c,
                        lab["baseline"]["per_label"][c]["objects"],
                        lab["baseline"]["per_label"][c]["precision"],
                        lab["baseline"]["per_label"][c]["recall"],
                        lab["candidate"]["per_label"][c]["precision"],
                        lab["candidate"]["per_label"][c]["recall"],
                    ]
                    for c in cats
                ],
            ),
        ]
    if r.get("alerts"):
        a = r["alerts"]
        out += [
            f"<h2>Alert diff ({escape(str(a['rules']))})</h2>",
            table(
                ["baseline alerts", "candidate alerts", "common", "added", "removed"],
                [
                    [
                        a["baseline_alerts"],
                        a["candidate_alerts"],
                        a["common"],
                        len(a["added"]),
                        len(a["removed"]),
                    ]
                ],
            ),
            table(
                ["change", "rule", "camera", "frame", "label"],
                [
                    ["added", x["rule_id"], x["camera_id"], x["frame_id"], x["label"]]
                    for x in a["added"]
                ]
                + [
                    ["removed", x["rule_id"], x["camera_id"], x["frame_id"], x["label"]]
                    for x in a["removed"]
                ],
            ),
        ]
    sp = r["speed"]

    def last_run(s: Mapping[str, Any]) -> Mapping[str, Any]:
        runs: list[Mapping[str, Any]] = s.get("replay_runs") or [{}]
        return runs[-1]

    out += [
        "<h2>Speed as recorded</h2>",
        table(
            [
                "model",
                "frames",
                "frames/s (inference span)",
                "capture to inference p50 ms",
                "replay frames/s",
                "replay ms in the model per frame",
            ],
            [
                [
                    name,
                    s.get("frames"),
                    s.get("frames_per_s"),
                    s.get("capture_to_inference_p50_ms"),
                    last_run(s).get("frames_per_s"),
                    last_run(s).get("infer_ms_per_frame"),
                ]
                for name, s in ((base, sp["baseline"]), (cand, sp["candidate"]))
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(out)
