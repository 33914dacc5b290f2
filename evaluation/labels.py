"""Labels files (COCO or a Label Studio JSON export), read whole and checked before anything is
stored: a file with one bad box, an unknown image or an empty frame list is refused with the
reason, and nothing of it reaches ClickHouse."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from evaluation import coco, labelstudio
from evaluation.coco import GroundTruth, LabelsError

# a box may stick out of the image by this much (annotation tools round)
SLACK = 0.01


class LabelFormat(StrEnum):
    auto = "auto"
    coco = "coco"
    labelstudio = "labelstudio"


@dataclass(frozen=True)
class LabelFile:
    path: Path
    format: LabelFormat
    truth: GroundTruth
    skipped: int = 0  # Label Studio tasks without a (non-cancelled) annotation

    @property
    def objects(self) -> int:
        return sum(len(v) for v in self.truth.frames.values())


def read_labels(path: Path, fmt: LabelFormat = LabelFormat.auto) -> LabelFile:
    """The ground truth of ``path``; ``LabelsError`` naming what is wrong otherwise."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabelsError(f"{path}: not a readable JSON file ({exc})") from None
    if fmt is LabelFormat.auto:
        if isinstance(doc, dict) and "images" in doc:
            fmt = LabelFormat.coco
        elif isinstance(doc, list):
            fmt = LabelFormat.labelstudio
        else:
            raise LabelsError(
                f"{path}: neither COCO (an object with 'images', 'annotations', 'categories') "
                "nor a Label Studio JSON export (a list of tasks; JSON-MIN is not supported)"
            )
    skipped = 0
    if fmt is LabelFormat.coco:
        if not isinstance(doc, dict):
            raise LabelsError(f"{path}: COCO is an object with 'images' and 'annotations'")
        truth = coco.load_labels(path)
    else:
        truth, skipped = labelstudio.parse_tasks(doc, str(path))
    check(truth, str(path))
    return LabelFile(path, fmt, truth, skipped)


def check(truth: GroundTruth, where: str) -> None:
    if not truth.frames:
        raise LabelsError(f"{where}: no labelled frames in it")
    for fid, objects in truth.frames.items():
        if not fid.strip():
            raise LabelsError(f"{where}: an empty frame id")
        for i, det in enumerate(objects):
            x0, y0, x1, y1 = det.box
            if not all(math.isfinite(v) for v in det.box):
                raise LabelsError(f"{where}: frame {fid!r} object {i}: box {det.box} not finite")
            if not (x1 > x0 and y1 > y0):
                raise LabelsError(f"{where}: frame {fid!r} object {i}: box {det.box} is empty")
            if min(x0, y0) < -SLACK or max(x1, y1) > 1 + SLACK:
                raise LabelsError(
                    f"{where}: frame {fid!r} object {i}: box {det.box} lies outside the image"
                )
            if not det.label.strip():
                raise LabelsError(f"{where}: frame {fid!r} object {i}: no label")
