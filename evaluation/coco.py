"""Ground truth in COCO format for a few frames, and AP@0.5 / precision / recall against it.

An image is a frame when its ``frame_id`` field, or else its ``file_name`` without extension,
is the frame id. Boxes are COCO ``[x, y, width, height]`` in pixels of the image's ``width`` x
``height``. Categories are matched by name to the detections' labels; detections of labels the
file has no category for are ignored, as COCO's evaluation does. AP is COCO's: precision
interpolated at 101 recall points, averaged over categories that have ground truth."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.matching import Det, Tally, match
from vigil.errors import VigilError

RECALL_POINTS = [i / 100 for i in range(101)]


class LabelsError(VigilError, ValueError):
    """A labels file that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class GroundTruth:
    frames: dict[str, list[Det]]  # frame id -> labelled objects (score 1)
    categories: tuple[str, ...]


def load_labels(path: Path) -> GroundTruth:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        cats = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        images = {}
        for im in doc["images"]:
            fid = str(im.get("frame_id") or Path(str(im["file_name"])).stem)
            images[int(im["id"])] = (fid, float(im["width"]), float(im["height"]))
        frames: dict[str, list[Det]] = {fid: [] for fid, _, _ in images.values()}
        for ann in doc["annotations"]:
            fid, w, h = images[int(ann["image_id"])]
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            box = (x / w, y / h, (x + bw) / w, (y + bh) / h)
            frames[fid].append(Det(cats[int(ann["category_id"])], 1.0, box))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise LabelsError(f"{path}: not a usable COCO labels file ({exc!r})") from None
    return GroundTruth(frames, tuple(sorted(set(cats.values()))))


def average_precision(hits: Sequence[tuple[float, bool]], positives: int) -> float:
    """COCO's 101-point interpolated AP of scored detections (score, is true positive)."""
    if positives == 0:
        return float("nan")
    ranked = sorted(hits, key=lambda h: -h[0])
    precisions, recalls = [], []
    tp = 0
    for i, (_score, ok) in enumerate(ranked, start=1):
        tp += ok
        precisions.append(tp / i)
        recalls.append(tp / positives)
    for i in range(len(precisions) - 2, -1, -1):  # the envelope: precision never rises later
        precisions[i] = max(precisions[i], precisions[i + 1])
    total = 0.0
    j = 0
    for r in RECALL_POINTS:
        while j < len(recalls) and recalls[j] < r:
            j += 1
        total += precisions[j] if j < len(recalls) else 0.0
    return total / len(RECALL_POINTS)


@dataclass(frozen=True)
class LabelScore:
    ap: float
    precision: float
    recall: float
    objects: int
    detections: int
    tp: int = 0
    fp: int = 0
    fn: int = 0


def evaluate(
    truth: GroundTruth, predictions: Mapping[str, Sequence[Det]], threshold: float = 0.5
) -> tuple[float, dict[str, LabelScore]]:
    """(mAP@threshold, per category) of one model's detections on the labelled frames; a
    labelled frame the model has no detections for counts as detecting nothing."""
    hits: dict[str, list[tuple[float, bool]]] = {c: [] for c in truth.categories}
    tallies = {c: Tally() for c in truth.categories}
    positives = dict.fromkeys(truth.categories, 0)
    for fid, objects in truth.frames.items():
        for o in objects:
            positives[o.label] += 1
        for label in truth.categories:
            gt = [o for o in objects if o.label == label]
            dets = [d for d in predictions.get(fid, ()) if d.label == label]
            matched = {c for _, c in match(gt, dets, threshold)}
            hits[label].extend((d.score, i in matched) for i, d in enumerate(dets))
            t = tallies[label]
            t.tp += len(matched)
            t.fp += len(dets) - len(matched)
            t.fn += len(gt) - len(matched)
    per = {
        c: LabelScore(
            average_precision(hits[c], positives[c]),
            tallies[c].precision,
            tallies[c].recall,
            positives[c],
            len(hits[c]),
            tallies[c].tp,
            tallies[c].fp,
            tallies[c].fn,
        )
        for c in truth.categories
    }
    aps = [s.ap for s in per.values() if s.objects > 0]
    return (sum(aps) / len(aps) if aps else float("nan")), per
