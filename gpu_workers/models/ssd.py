"""SSD in the TF object-detection API layout: the network gives raw box encodings and class
logits per anchor; anchors, box decoding and NMS happen here, vectorised over the batch (TF's
NMS ``Loop``s are cut out of the exported graph because TensorRT handles them badly)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gpu_workers.models.base import (
    Adapter,
    Image,
    Placement,
    ResizeMode,
    Tensor,
    resize_all,
    to_input,
)
from gpu_workers.models.postprocess import detections_from
from gpu_workers.models.spec import SpecError, SsdAnchors
from gpu_workers.models.types import Detections


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

    def resize_mode(self) -> ResizeMode:
        return "stretch"

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
