"""The small box matching the shadow comparison needs: greedy by score, same label, IoU at
least a threshold (the matching ``evaluation`` does, which a stream app may not import)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Box = Mapping[str, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two normalized boxes (0 when either is empty)."""
    w = min(a["x_max"], b["x_max"]) - max(a["x_min"], b["x_min"])
    h = min(a["y_max"], b["y_max"]) - max(a["y_min"], b["y_min"])
    inter = max(0.0, w) * max(0.0, h)
    area_a = max(0.0, a["x_max"] - a["x_min"]) * max(0.0, a["y_max"] - a["y_min"])
    area_b = max(0.0, b["x_max"] - b["x_min"]) * max(0.0, b["y_max"] - b["y_min"])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def matched(
    left: Sequence[Mapping[str, Any]], right: Sequence[Mapping[str, Any]], threshold: float
) -> int:
    """How many detections of ``left`` pair one-to-one with one of ``right`` (same label, IoU
    >= ``threshold``), the most confident first."""
    free = sorted(range(len(right)), key=lambda j: -float(right[j]["score"]))
    count = 0
    for d in sorted(left, key=lambda d: -float(d["score"])):
        best, best_iou = None, threshold
        for j in free:
            o = right[j]
            if o["label"] != d["label"]:
                continue
            v = iou(d["box"], o["box"])
            if v >= best_iou:
                best, best_iou = j, v
        if best is not None:
            free.remove(best)
            count += 1
    return count


def agreement(
    left: Sequence[Mapping[str, Any]], right: Sequence[Mapping[str, Any]], threshold: float
) -> float:
    """Matched pairs over the larger side's count; two empty sides agree fully."""
    most = max(len(left), len(right))
    return 1.0 if most == 0 else matched(left, right, threshold) / most
