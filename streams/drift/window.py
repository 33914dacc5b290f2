"""One (camera, model version) window's mergeable summary of DetectionEvents.

Numeric features go into fixed fine-grained histograms (the mergeable sketch: windows merge
by adding counts, so a reference built from many windows is exact and a restart loses
nothing); categorical ones into counts. The summary is a plain JSON-able dict so it can live
in the app's changelog-backed state store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Summary = dict[str, Any]

MAX_PER_FRAME = 10  # the detections-per-frame categories: 0..9 and "10 or more"


@dataclass(frozen=True)
class Bins:
    """``n`` equal bins over ``[lo, hi]`` of ``transform(value)``; outliers go to the edges."""

    lo: float
    hi: float
    n: int
    transform: str = "identity"  # or "log10p1" (sharpness spans decades)

    def index(self, value: float) -> int:
        x = math.log10(1.0 + max(value, 0.0)) if self.transform == "log10p1" else value
        i = int((x - self.lo) / (self.hi - self.lo) * self.n)
        return min(max(i, 0), self.n - 1)

    def centre(self, i: int) -> float:
        x = self.lo + (i + 0.5) * (self.hi - self.lo) / self.n
        return 10.0**x - 1.0 if self.transform == "log10p1" else x


NUMERIC: dict[str, Bins] = {
    "confidence": Bins(0.0, 1.0, 50),
    "box_area": Bins(0.0, 1.0, 50),  # sqrt of the normalised area: linear in box size
    "box_aspect": Bins(-4.0, 4.0, 64),  # log2(width / height)
    "brightness": Bins(0.0, 1.0, 64),
    "contrast": Bins(0.0, 0.5, 64),
    "sharpness": Bins(0.0, 5.0, 64, "log10p1"),
}
IMAGE_FEATURES = ("brightness", "contrast", "sharpness")


def empty() -> Summary:
    return {
        "frames": 0,
        "empty_frames": 0,
        "carried_frames": 0,
        "detections": 0,
        "labels": {},
        "per_frame": [0] * (MAX_PER_FRAME + 1),
        "hist": {name: [0] * b.n for name, b in NUMERIC.items()},
        "conf_by_label": {},
        "emb_sum": None,
        "emb_n": 0,
        "dark_frames": 0,
        "stats_frames": 0,
        "missing_stats": 0,
        "missing_dhash": 0,
        "invalid_detections": 0,
        "hash_pairs": 0,
        "frozen_pairs": 0,
        "last_dhash": None,
        "offset": -1,
    }


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def inferred_frames(summary: Summary) -> int:
    """Frames the model ran on (carried ones excluded): the base of detection rates."""
    return int(summary["frames"]) - int(summary.get("carried_frames", 0))


def usable_image_stats(stats: Mapping[str, Any] | None) -> bool:
    """False when the writer did not compute them: absent, non-finite, out of range, or all
    zero with no dhash (a real black frame has a dhash, 0, and usually sensor noise)."""
    if not stats:
        return False
    b, c, s = stats.get("brightness"), stats.get("contrast"), stats.get("sharpness")
    if not _finite(b, c, s):
        return False
    fb, fc, fs = float(b), float(c), float(s)  # type: ignore[arg-type]
    if not (0.0 <= fb <= 1.0 and 0.0 <= fc <= 1.0 and fs >= 0.0):
        return False
    return not (fb == 0.0 and fc == 0.0 and fs == 0.0 and stats.get("dhash") is None)


def add_event(summary: Summary, event: Mapping[str, Any], *, dark_brightness: float = 0.05) -> None:
    """Fold one DetectionEvent into ``summary`` (in place). A motion-gated event that carries
    an earlier frame's detections (``carried_from``) adds its image statistics only: the model
    did not run on it, and counting its copies would weight still scenes."""
    summary["frames"] += 1
    hist = summary["hist"]
    if event.get("carried_from") is None:
        dets = event.get("detections") or []
        summary["detections"] += len(dets)
        if not dets:
            summary["empty_frames"] += 1
        summary["per_frame"][min(len(dets), MAX_PER_FRAME)] += 1
        for det in dets:
            _add_detection(summary, hist, det)
    else:
        summary["carried_frames"] = summary.get("carried_frames", 0) + 1
    stats = event.get("image_stats")
    if usable_image_stats(stats):
        summary["stats_frames"] += 1
        for name in IMAGE_FEATURES:
            hist[name][NUMERIC[name].index(float(stats[name]))] += 1  # type: ignore[index]
        if float(stats["brightness"]) < dark_brightness:  # type: ignore[index]
            summary["dark_frames"] += 1
    else:
        summary["missing_stats"] += 1
    code = stats.get("dhash") if stats else None
    if code is None:
        summary["missing_dhash"] += 1
    else:
        if summary["last_dhash"] is not None:
            summary["hash_pairs"] += 1
            summary["frozen_pairs"] += int(summary["last_dhash"] == code)
        summary["last_dhash"] = int(code)


def _add_detection(summary: Summary, hist: dict[str, list[int]], det: Mapping[str, Any]) -> None:
    label = str(det.get("label", ""))
    summary["labels"][label] = summary["labels"].get(label, 0) + 1
    score = det.get("score")
    box = det.get("box") or {}
    x1, y1, x2, y2 = (box.get(k) for k in ("x_min", "y_min", "x_max", "y_max"))
    if not _finite(score, x1, y1, x2, y2):
        summary["invalid_detections"] += 1
        return
    i = NUMERIC["confidence"].index(float(score))  # type: ignore[arg-type]
    hist["confidence"][i] += 1
    by_label = summary["conf_by_label"].setdefault(label, [0] * NUMERIC["confidence"].n)
    by_label[i] += 1
    w, h = max(float(x2) - float(x1), 0.0), max(float(y2) - float(y1), 0.0)  # type: ignore[arg-type]
    hist["box_area"][NUMERIC["box_area"].index(math.sqrt(w * h))] += 1
    if w > 0 and h > 0:
        hist["box_aspect"][NUMERIC["box_aspect"].index(math.log2(w / h))] += 1
    emb = det.get("embedding")
    if emb and all(_finite(v) for v in emb):
        acc = summary["emb_sum"]
        if acc is None or len(acc) != len(emb):
            acc = summary["emb_sum"] = [0.0] * len(emb) if acc is None else acc
        if len(acc) == len(emb):
            summary["emb_sum"] = [a + float(v) for a, v in zip(acc, emb, strict=True)]
            summary["emb_n"] += 1


def merge(into: Summary, other: Summary) -> Summary:
    """Add ``other``'s counts to ``into`` (in place): how references are built from windows."""
    for key in (
        "frames",
        "empty_frames",
        "detections",
        "emb_n",
        "dark_frames",
        "stats_frames",
        "missing_stats",
        "missing_dhash",
        "invalid_detections",
        "hash_pairs",
        "frozen_pairs",
    ):
        into[key] += other[key]
    # summaries kept before motion gating have no carried count
    into["carried_frames"] = into.get("carried_frames", 0) + other.get("carried_frames", 0)
    for label, n in other["labels"].items():
        into["labels"][label] = into["labels"].get(label, 0) + n
    into["per_frame"] = [a + b for a, b in zip(into["per_frame"], other["per_frame"], strict=True)]
    for name, counts in other["hist"].items():
        into["hist"][name] = [a + b for a, b in zip(into["hist"][name], counts, strict=True)]
    for label, counts in other["conf_by_label"].items():
        mine = into["conf_by_label"].get(label, [0] * len(counts))
        into["conf_by_label"][label] = [a + b for a, b in zip(mine, counts, strict=True)]
    if other["emb_sum"] is not None:
        if into["emb_sum"] is None:
            into["emb_sum"] = list(other["emb_sum"])
        elif len(into["emb_sum"]) == len(other["emb_sum"]):
            into["emb_sum"] = [
                a + b for a, b in zip(into["emb_sum"], other["emb_sum"], strict=True)
            ]
    return into


def median(counts: list[int], bins: Bins) -> float | None:
    """The histogram's median (bin centre): enough for "sharpness collapsed by 4x"."""
    total = sum(counts)
    if total == 0:
        return None
    running = 0
    for i, n in enumerate(counts):
        running += n
        if running * 2 >= total:
            return bins.centre(i)
    return bins.centre(len(counts) - 1)
