"""COCO ground truth and 101-point AP@0.5 against values computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.coco import LabelsError, average_precision, evaluate, load_labels
from evaluation.matching import Det


def _labels(tmp_path: Path) -> Path:
    doc = {
        "images": [
            {"id": 1, "file_name": "cam-1.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "x.png", "frame_id": "cam-2", "width": 100, "height": 50},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 10]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [60, 20, 20, 20]},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 50, 50]},
            {"id": 4, "image_id": 2, "category_id": 3, "bbox": [50, 0, 50, 25]},
        ],
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(doc))
    return path


def test_load_normalises_boxes_and_names_frames(tmp_path: Path) -> None:
    truth = load_labels(_labels(tmp_path))
    assert set(truth.frames) == {"cam-1", "cam-2"}
    assert truth.categories == ("car", "person")
    assert truth.frames["cam-1"][0] == Det("person", 1.0, (0.1, 0.1, 0.3, 0.3))


def test_map_by_hand(tmp_path: Path) -> None:
    """person: 3 objects; detections ranked 0.9 TP, 0.8 FP, 0.7 TP -> recall 1/3, 1/3, 2/3,
    precision 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3. Of the 101 recall points, 0.00..0.33
    (34 points) get 1 and 0.34..0.66 (33 points) get 2/3; the rest 0: AP = 56/101.
    car: one object, one exact detection: AP = 1. mAP = (56/101 + 1) / 2."""
    truth = load_labels(_labels(tmp_path))
    preds = {
        "cam-1": [
            Det("person", 0.9, (0.1, 0.1, 0.3, 0.3)),  # TP
            Det("person", 0.8, (0.8, 0.0, 1.0, 0.1)),  # FP: nothing there
            Det("dog", 0.99, (0.1, 0.1, 0.3, 0.3)),  # no dog category: ignored
        ],
        "cam-2": [
            Det("person", 0.7, (0.0, 0.0, 0.5, 0.9)),  # IoU 0.9 with (0, 0, .5, 1): TP
            Det("car", 0.6, (0.5, 0.0, 1.0, 0.5)),
        ],
    }
    m_ap, per = evaluate(truth, preds)
    assert per["person"].ap == pytest.approx(56 / 101)
    assert per["car"].ap == pytest.approx(1.0)
    assert m_ap == pytest.approx((56 / 101 + 1) / 2)
    assert (per["person"].precision, per["person"].recall) == pytest.approx((2 / 3, 2 / 3))
    assert per["person"].objects == 3


def test_average_precision_edges() -> None:
    assert average_precision([], 2) == 0.0
    assert average_precision([(0.5, True), (0.4, True)], 2) == pytest.approx(1.0)
    assert average_precision([(0.5, False)], 0) != average_precision([(0.5, False)], 0)  # nan


def test_unusable_labels_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(LabelsError, match=r"bad\.json: not a usable COCO labels file"):
        load_labels(bad)
