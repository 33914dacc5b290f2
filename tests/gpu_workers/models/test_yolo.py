"""The YOLOv8/YOLO11 adapter on an ONNX file with the Ultralytics output layout
``[B, 4 + nc, N]`` and outputs known in advance: decoding, letterbox undo, per-class NMS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from gpu_workers.models.loader import load_model
from gpu_workers.models.spec import SpecError
from gpu_workers.models.yolo import YoloAdapter
from tests.gpu_workers.onnx_builders import constant_output_model

SIZE = 64
LABELS = ["person", "car", "dog"]
# columns: cx, cy, w, h (input pixels), score person, car, dog
CANDIDATES = np.asarray(
    [
        [20, 30, 10, 10, 0.90, 0.00, 0.00],  # A: kept
        [21, 31, 10, 10, 0.80, 0.00, 0.00],  # B: same place and class as A -> suppressed
        [20, 30, 10, 10, 0.10, 0.85, 0.00],  # C: same place as A, other class -> kept
        [40, 40, 6, 6, 0.00, 0.00, 0.30],  # D: below the score threshold -> dropped
        [50, 44, 8, 8, 0.70, 0.00, 0.00],  # E: far from A -> kept
        [27, 30, 10, 10, 0.00, 0.60, 0.00],  # F: overlaps C with IoU 0.18 -> kept
    ],
    dtype=np.float32,
)


def _spec(tmp_path: Path, **overrides: object) -> Path:
    constant_output_model(tmp_path / "known.onnx", CANDIDATES.T.copy(), (SIZE, SIZE))
    spec = {
        "name": "known-yolo",
        "family": "yolo",
        "file": "known.onnx",
        "input_size": [SIZE, SIZE],
        "letterbox": True,
        "labels": LABELS,
        "score_threshold": 0.5,
        "nms_iou": 0.5,
        **overrides,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_decode_letterbox_and_per_class_nms(tmp_path: Path) -> None:
    model = load_model(_spec(tmp_path), tmp_path)
    assert isinstance(model, YoloAdapter)
    # 128 x 64 image -> scale 0.5 into 64 x 64, padded 16 px top and bottom
    image = np.zeros((64, 128, 3), np.uint8)
    (result,) = model([image])
    got = [(d.label, round(d.score, 2)) for d in result.detections]
    assert got == [("person", 0.9), ("car", 0.85), ("person", 0.7), ("car", 0.6)]
    a = result.detections[0].box  # A: x 15..25, y 25..35 in input -> source px / 0.5 (y - 16)
    assert a.x_min == pytest.approx(30 / 128)
    assert a.x_max == pytest.approx(50 / 128)
    assert a.y_min == pytest.approx(18 / 64)
    assert a.y_max == pytest.approx(38 / 64)
    assert result.model.name == "known-yolo"
    assert len(result.model.sha256) == 64


def test_batch_results_are_per_image(tmp_path: Path) -> None:
    model = load_model(_spec(tmp_path, max_detections=2), tmp_path)
    images = [np.zeros((64, 64, 3), np.uint8), np.zeros((32, 96, 3), np.uint8)]
    first, second = model(images)
    assert [d.label for d in first.detections] == ["person", "car"]  # capped at 2
    assert [d.label for d in second.detections] == ["person", "car"]
    assert first.detections[0].box != second.detections[0].box  # different letterbox undo


def test_spec_whose_labels_disagree_with_the_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"labels: the spec lists 2 labels.*3 classes"):
        load_model(_spec(tmp_path, labels=["person", "car"]), tmp_path)
