"""YOLOv8 / YOLO11 in the Ultralytics export layout: one output ``[B, 4 + nc, N]`` with
(cx, cy, w, h) in input pixels and per-class scores (already sigmoid), no objectness."""

from __future__ import annotations

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
from gpu_workers.models.spec import SpecError
from gpu_workers.models.types import Detections


class YoloAdapter(Adapter[Detections]):
    def check_model(self) -> None:
        super().check_model()
        outputs = self.engine.output_names
        shapes = self.engine.output_shapes()
        shape = shapes.get(outputs[0], ())
        if len(shape) == 3 and isinstance(shape[1], int) and shape[1] != 4 + self.spec.num_classes:
            raise SpecError(
                f"{self.spec.name}: labels: the spec lists {self.spec.num_classes} labels, so the "
                f"output should be [B, {4 + self.spec.num_classes}, N]; the model's is "
                f"{list(shape)} ({shape[1] - 4} classes)"
            )

    def resize_mode(self) -> ResizeMode:
        return "letterbox" if self.spec.letterbox else "stretch"

    def preprocess(self, images: Sequence[Image]) -> tuple[Tensor, list[Placement]]:
        size = self.spec.input_size or (640, 640)
        resized, places = resize_all(images, size, letterbox=self.spec.letterbox)
        return to_input(resized, self.spec, size), places

    def postprocess(self, outputs: list[Tensor], placements: list[Placement]) -> list[Detections]:
        raw = outputs[0]
        if raw.ndim != 3 or raw.shape[1] != 4 + self.spec.num_classes:
            raise SpecError(
                f"{self.spec.name}: labels: expected output [B, {4 + self.spec.num_classes}, N], "
                f"got {list(raw.shape)}"
            )
        preds = raw.transpose(0, 2, 1)  # [B, N, 4 + nc]
        cx, cy, w, h = (preds[..., i] for i in range(4))
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
        scores = preds[..., 4:]
        # one class per box (Ultralytics' default): keep only the best class's score
        best = scores.argmax(axis=-1)
        only_best = np.zeros_like(scores)
        np.put_along_axis(
            only_best, best[..., None], np.take_along_axis(scores, best[..., None], -1), -1
        )
        return detections_from(
            self, boxes.astype(np.float32), only_best, placements, normalised=False, class_offset=0
        )
