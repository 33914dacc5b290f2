"""Shared detector post-processing: threshold, per-image per-class NMS in one vectorised
call over the whole batch, undo resize/letterbox, build the records."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpu_workers.models.base import Adapter, Placement, Tensor
from gpu_workers.models.finite import count_dropped, finite_rows
from gpu_workers.models.nms import batched_nms
from gpu_workers.models.types import Box, Detection, Detections


def detections_from(
    adapter: Adapter[Any],
    boxes: Tensor,
    scores: Tensor,
    placements: list[Placement],
    *,
    normalised: bool,
    class_offset: int,
) -> list[Detections]:
    """Threshold, NMS per image and class in one vectorised call, and build the records.
    ``boxes`` is ``[B, N, 4]`` x1y1x2y2 (normalised, or input pixels when not ``normalised``),
    ``scores`` is ``[B, N, C]``. Candidates with a NaN or infinite score or box are dropped
    and counted (``vigil_model_nonfinite_outputs_total``)."""
    spec = adapter.spec
    nan_scores = int(np.isnan(scores).sum())  # never above the threshold: counted here
    b_idx, n_idx, c_idx = np.nonzero(scores > spec.score_threshold)
    cand_scores = scores[b_idx, n_idx, c_idx]
    cand_boxes = boxes[b_idx, n_idx]
    finite = finite_rows(cand_scores, cand_boxes)
    count_dropped(spec.name, nan_scores + int(len(finite) - finite.sum()))
    if not finite.all():
        b_idx, n_idx, c_idx = b_idx[finite], n_idx[finite], c_idx[finite]
        cand_scores, cand_boxes = cand_scores[finite], cand_boxes[finite]
    if not normalised:  # undo letterbox / stretch per image, then normalise
        px = np.asarray([p.pad_x for p in placements], np.float32)[b_idx]
        py = np.asarray([p.pad_y for p in placements], np.float32)[b_idx]
        sx = np.asarray([p.scale_x * p.width for p in placements], np.float32)[b_idx]
        sy = np.asarray([p.scale_y * p.height for p in placements], np.float32)[b_idx]
        shift = np.stack([px, py, px, py], axis=1)
        scale = np.stack([sx, sy, sx, sy], axis=1)
        cand_boxes = np.clip((cand_boxes - shift) / scale, 0.0, 1.0).astype(np.float32)
    groups = b_idx.astype(np.int64) * scores.shape[2] + c_idx
    keep = batched_nms(cand_boxes, cand_scores, groups, spec.nms_iou, len(cand_boxes))
    results: list[list[Detection]] = [[] for _ in placements]
    for i in keep:  # already sorted by score
        per_image = results[int(b_idx[i])]
        if len(per_image) >= spec.max_detections:
            continue
        cls = int(c_idx[i]) + class_offset
        x1, y1, x2, y2 = (float(v) for v in cand_boxes[i])
        per_image.append(
            Detection(
                label=spec.labels[int(c_idx[i])],
                class_id=cls,
                score=float(cand_scores[i]),
                box=Box(x1, y1, x2, y2),
            )
        )
    return [
        Detections(adapter.identity, p.width, p.height, tuple(r))
        for p, r in zip(placements, results, strict=True)
    ]
