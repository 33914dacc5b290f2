"""Box arithmetic and non-maximum suppression in numpy, shared by every detector family."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]


def iou_matrix(a: Array, b: Array) -> Array:
    """Pairwise IoU of corner boxes ``[N, 4]`` x ``[M, 4]`` (x1, y1, x2, y2 or y1, x1, ...)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: Array, scores: Array, iou_threshold: float, max_keep: int) -> npt.NDArray[np.int64]:
    """Greedy NMS; returns kept indices by descending score. The IoU matrix is computed once
    (candidates are few after the score threshold), so the loop is over rows only."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    ious = iou_matrix(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_keep:
            break
        suppressed |= ious[i] > iou_threshold
    return order[np.asarray(keep, dtype=np.int64)]


def batched_nms(
    boxes: Array, scores: Array, classes: npt.NDArray[np.int64], iou_threshold: float, max_keep: int
) -> npt.NDArray[np.int64]:
    """Per-class NMS in one pass: boxes of different classes are shifted apart so they never
    overlap (the torchvision ``batched_nms`` trick)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    span = float(boxes.max() - boxes.min()) + 1.0
    shifted = boxes + (classes.astype(np.float32) * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
