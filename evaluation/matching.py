"""Pure matching of two detection sets of one frame, and the per-label tallies built on it.

Two detections match when they have the same label and IoU >= the threshold; the candidate's
detections are taken in descending score order, each matching the unmatched reference detection
it overlaps most (greedy, as COCO's evaluation does)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max (normalised)


@dataclass(frozen=True)
class Det:
    label: str
    score: float
    box: Box


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(
    reference: Sequence[Det], candidate: Sequence[Det], threshold: float
) -> list[tuple[int, int]]:
    """(reference index, candidate index) pairs, greedy by candidate score."""
    taken: set[int] = set()
    pairs = []
    for ci in sorted(range(len(candidate)), key=lambda i: -candidate[i].score):
        c = candidate[ci]
        best, best_iou = -1, threshold
        for ri, r in enumerate(reference):
            if ri in taken or r.label != c.label:
                continue
            overlap = iou(r.box, c.box)
            if overlap >= best_iou:
                best, best_iou = ri, overlap
        if best >= 0:
            taken.add(best)
            pairs.append((best, ci))
    return pairs


@dataclass
class Tally:
    tp: int = 0  # matched
    fp: int = 0  # candidate only
    fn: int = 0  # reference only

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "matched": self.tp,
            "candidate_only": self.fp,
            "baseline_only": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass
class Comparison:
    """Everything the per-frame matching gives over many frames."""

    frames: int = 0
    frames_agreeing: int = 0  # every detection matched both ways
    labels: dict[str, Tally] = field(default_factory=dict)
    max_score_diff: float = 0.0  # over matched pairs (determinism)
    max_box_diff: float = 0.0

    @property
    def total(self) -> Tally:
        t = Tally()
        for x in self.labels.values():
            t.tp, t.fp, t.fn = t.tp + x.tp, t.fp + x.fp, t.fn + x.fn
        return t

    @property
    def agreement(self) -> float:
        """Matched detections over all distinct detections of both models (1.0: none)."""
        t = self.total
        n = t.tp + t.fp + t.fn
        return t.tp / n if n else 1.0

    @property
    def frame_agreement(self) -> float:
        return self.frames_agreeing / self.frames if self.frames else 1.0

    def add(self, reference: Sequence[Det], candidate: Sequence[Det], threshold: float) -> None:
        pairs = match(reference, candidate, threshold)
        self.frames += 1
        if len(pairs) == len(reference) == len(candidate):
            self.frames_agreeing += 1
        ref_hit = {r for r, _ in pairs}
        cand_hit = {c for _, c in pairs}
        for r, c in pairs:
            a, b = reference[r], candidate[c]
            self.labels.setdefault(a.label, Tally()).tp += 1
            self.max_score_diff = max(self.max_score_diff, abs(a.score - b.score))
            diff = max(abs(x - y) for x, y in zip(a.box, b.box, strict=True))
            self.max_box_diff = max(self.max_box_diff, diff)
        for i, d in enumerate(reference):
            if i not in ref_hit:
                self.labels.setdefault(d.label, Tally()).fn += 1
        for i, d in enumerate(candidate):
            if i not in cand_hit:
                self.labels.setdefault(d.label, Tally()).fp += 1


def compare(
    pairs: Iterable[tuple[Sequence[Det], Sequence[Det]]], threshold: float = 0.5
) -> Comparison:
    out = Comparison()
    for reference, candidate in pairs:
        out.add(reference, candidate, threshold)
    return out
