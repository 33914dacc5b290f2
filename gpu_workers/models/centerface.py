"""CenterFace: a heatmap of face centres with per-cell scale, offset and 5 landmarks, at a
stride of 4. Inputs of any size (padded to a multiple of 32) go through one dynamic ONNX."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from gpu_workers.models.base import (
    Adapter,
    Image,
    Placement,
    Tensor,
    as_image,
    check_image,
    to_input,
)
from gpu_workers.models.finite import count_dropped, finite_rows
from gpu_workers.models.nms import batched_nms
from gpu_workers.models.spec import SpecError
from gpu_workers.models.types import Box, Detection, Detections

STRIDE = 4


def _round_up(value: float, multiple: int = 32) -> int:
    return int(math.ceil(value / multiple) * multiple)


class CenterFaceAdapter(Adapter[Detections]):
    def check_model(self) -> None:
        super().check_model()
        if len(self.engine.output_names) != 4:
            raise SpecError(
                f"{self.spec.name}: a centerface model has 4 outputs (heatmap, scale, offset, "
                f"landmarks); this one has {self.engine.output_names}"
            )

    def preprocess(self, images: Sequence[Image]) -> tuple[Tensor, list[Placement]]:
        """Pad every image into one canvas (top-left, no distortion); shrink only when the
        spec caps the input size."""
        for image in images:
            check_image(image)
        if self.spec.input_size is not None:
            width, height = self.spec.input_size
        else:
            width = max(i.shape[1] for i in images)
            height = max(i.shape[0] for i in images)
        width, height = _round_up(width), _round_up(height)
        canvases: list[Image] = []
        places: list[Placement] = []
        for image in images:
            h, w = image.shape[:2]
            s = min(1.0, width / w, height / h)
            canvas = np.zeros((height, width, 3), dtype=np.uint8)
            if s < 1.0:
                size = (max(1, round(w * s)), max(1, round(h * s)))  # never 0 wide
                image = as_image(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            canvas[: image.shape[0], : image.shape[1]] = image
            canvases.append(canvas)
            places.append(Placement(w, h, s, s))
        return to_input(canvases, self.spec, (width, height)), places

    def postprocess(self, outputs: list[Tensor], placements: list[Placement]) -> list[Detections]:
        heatmap, scale, offset, landmarks = outputs
        b, _, ys, xs = np.nonzero(heatmap > self.spec.score_threshold)
        score = heatmap[b, 0, ys, xs]
        h = np.exp(scale[b, 0, ys, xs]) * STRIDE
        w = np.exp(scale[b, 1, ys, xs]) * STRIDE
        cy = (ys + offset[b, 0, ys, xs] + 0.5) * STRIDE
        cx = (xs + offset[b, 1, ys, xs] + 0.5) * STRIDE
        x1, y1 = cx - w / 2, cy - h / 2
        lm_y = landmarks[b, 0::2, ys, xs] * h[:, None] + y1[:, None]  # [K, 5]
        lm_x = landmarks[b, 1::2, ys, xs] * w[:, None] + x1[:, None]
        s = np.asarray([p.scale_x for p in placements], np.float32)[b]
        boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1) / s[:, None]
        lm_x, lm_y = lm_x / s[:, None], lm_y / s[:, None]
        finite = finite_rows(score, boxes, lm_x, lm_y)
        count_dropped(self.spec.name, int(len(finite) - finite.sum()))
        if not finite.all():
            b, score, boxes = b[finite], score[finite], boxes[finite]
            lm_x, lm_y = lm_x[finite], lm_y[finite]
        keep = batched_nms(
            boxes.astype(np.float32), score, b.astype(np.int64), self.spec.nms_iou, len(b)
        )
        results: list[list[Detection]] = [[] for _ in placements]
        label = self.spec.labels[0] if self.spec.labels else "face"
        for i in keep:
            p = placements[int(b[i])]
            per_image = results[int(b[i])]
            if len(per_image) >= self.spec.max_detections:
                continue
            bx = np.clip(boxes[i], 0, [p.width, p.height, p.width, p.height])
            per_image.append(
                Detection(
                    label=label,
                    class_id=0,
                    score=float(score[i]),
                    box=Box(
                        float(bx[0] / p.width),
                        float(bx[1] / p.height),
                        float(bx[2] / p.width),
                        float(bx[3] / p.height),
                    ),
                    landmarks=tuple(
                        (float(x), float(y)) for x, y in zip(lm_x[i], lm_y[i], strict=True)
                    ),
                )
            )
        return [
            Detections(self.identity, p.width, p.height, tuple(r))
            for p, r in zip(placements, results, strict=True)
        ]
