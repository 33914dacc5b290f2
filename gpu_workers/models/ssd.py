"""SSD in the TF object-detection API layout: the network gives raw box encodings and class
logits per anchor; anchors, box decoding and NMS happen here, vectorised over the batch (TF's
NMS ``Loop``s are cut out of the exported graph because TensorRT handles them badly)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gpu_workers.models.base import Adapter, Image, Placement, Tensor, resize_all, to_input
from gpu_workers.models.nms import batched_nms
from gpu_workers.models.spec import SpecError, SsdAnchors
from gpu_workers.models.types import Box, Detection, Detections


def ssd_anchors(cfg: SsdAnchors) -> Tensor:
    """``[N, 4]`` anchors (ymin, xmin, ymax, xmax), normalised: TF's ``ssd_anchor_generator``
    with ``MultipleGridAnchorGenerator`` on a square input, same order as the graph's."""
    n = cfg.num_layers
    scales = [cfg.min_scale + (cfg.max_scale - cfg.min_scale) * i / (n - 1) for i in range(n)]
    scales.append(1.0)
    layers: list[Tensor] = []
    for layer, size in enumerate(cfg.feature_map_sizes):
        specs: list[tuple[float, float]]
        if layer == 0 and cfg.reduce_boxes_in_lowest_layer:
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[layer], ar) for ar in cfg.aspect_ratios]
            if cfg.interpolated_scale_aspect_ratio > 0:
                specs.append(
                    (
                        math.sqrt(scales[layer] * scales[layer + 1]),
                        cfg.interpolated_scale_aspect_ratio,
                    )
                )
        s = np.asarray([p[0] for p in specs], np.float32)
        ratio = np.sqrt(np.asarray([p[1] for p in specs], np.float32))
        heights, widths = s / ratio, s * ratio
        stride = 1.0 / size
        centres = (np.arange(size, dtype=np.float32) + 0.5) * stride
        cy, cx, k = np.meshgrid(centres, centres, np.arange(len(specs)), indexing="ij")
        h, w = heights[k], widths[k]
        layers.append(
            np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1).reshape(-1, 4)
        )
    return np.concatenate(layers).astype(np.float32)


def decode_boxes(encodings: Tensor, anchors: Tensor, scales: Sequence[float]) -> Tensor:
    """``[B, N, 4]`` (ty, tx, th, tw) -> ``[B, N, 4]`` (x1, y1, x2, y2), normalised."""
    ya = (anchors[:, 0] + anchors[:, 2]) / 2
    xa = (anchors[:, 1] + anchors[:, 3]) / 2
    ha = anchors[:, 2] - anchors[:, 0]
    wa = anchors[:, 3] - anchors[:, 1]
    ty, tx, th, tw = (encodings[..., i] / np.float32(scales[i]) for i in range(4))
    yc, xc = ty * ha + ya, tx * wa + xa
    h, w = np.exp(th) * ha, np.exp(tw) * wa
    return np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=-1)


class SsdAdapter(Adapter[Detections]):
    def check_model(self) -> None:
        super().check_model()
        if self.spec.anchors is None:  # the spec validator already insists
            raise SpecError(f"{self.spec.name}: anchors: required for an ssd model")
        self.anchors = ssd_anchors(self.spec.anchors)
        self.scales = self.spec.anchors.box_coder_scales
        self.outputs = self.engine.output_names
        if len(self.outputs) != 2:
            raise SpecError(
                f"{self.spec.name}: an ssd model has 2 outputs (box encodings, class logits); "
                f"this one has {self.outputs}"
            )
        shapes = self.engine.output_shapes()
        logits_shape = shapes.get(self.outputs[1], ())
        expected = self.spec.num_classes + (1 if self.spec.background_class else 0)
        if logits_shape and isinstance(logits_shape[-1], int) and logits_shape[-1] != expected:
            raise SpecError(
                f"{self.spec.name}: labels: the spec lists {self.spec.num_classes} labels "
                f"(+background: {self.spec.background_class}) = {expected} classes, but the "
                f"model outputs {logits_shape[-1]}"
            )
        boxes_shape = shapes.get(self.outputs[0], ())
        if boxes_shape and isinstance(boxes_shape[1], int) and boxes_shape[1] != len(self.anchors):
            raise SpecError(
                f"{self.spec.name}: anchors: the spec's generator gives {len(self.anchors)} "
                f"anchors, the model predicts {boxes_shape[1]}"
            )

    def preprocess(self, images: Sequence[Image]) -> tuple[Tensor, list[Placement]]:
        size = self.spec.input_size or (300, 300)
        resized, places = resize_all(images, size, letterbox=False)
        return to_input(resized, self.spec, size), places

    def postprocess(self, outputs: list[Tensor], placements: list[Placement]) -> list[Detections]:
        encodings = outputs[0].reshape(len(placements), -1, 4)
        logits = outputs[1]
        scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        if self.spec.background_class:
            scores = scores[..., 1:]
        boxes = np.clip(decode_boxes(encodings, self.anchors, self.scales), 0.0, 1.0)
        return detections_from(
            self,
            boxes,
            scores,
            placements,
            normalised=True,
            class_offset=1 if self.spec.background_class else 0,
        )


def detections_from(
    adapter: Adapter[Detections],
    boxes: Tensor,
    scores: Tensor,
    placements: list[Placement],
    *,
    normalised: bool,
    class_offset: int,
) -> list[Detections]:
    """Threshold, NMS per image and class in one vectorised call, and build the records.
    ``boxes`` is ``[B, N, 4]`` x1y1x2y2 (normalised, or input pixels when not ``normalised``),
    ``scores`` is ``[B, N, C]``."""
    spec = adapter.spec
    b_idx, n_idx, c_idx = np.nonzero(scores > spec.score_threshold)
    cand_scores = scores[b_idx, n_idx, c_idx]
    cand_boxes = boxes[b_idx, n_idx]
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
