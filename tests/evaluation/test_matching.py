"""Per-frame matching (same label, IoU >= 0.5, greedy by score) and the tallies on it."""

from __future__ import annotations

import pytest

from evaluation.matching import Det, compare, iou, match

A = (0.1, 0.1, 0.3, 0.3)
A_SHIFTED = (0.12, 0.1, 0.32, 0.3)  # IoU with A = 0.036 / 0.044 = 0.818
B = (0.6, 0.6, 0.9, 0.9)


def test_iou() -> None:
    assert iou(A, A) == pytest.approx(1.0)
    assert iou(A, B) == 0.0
    assert iou(A, A_SHIFTED) == pytest.approx(0.036 / 0.044)


def test_greedy_by_score_and_same_label_only() -> None:
    ref = [Det("person", 0.9, A), Det("car", 0.8, B)]
    cand = [Det("person", 0.6, A_SHIFTED), Det("person", 0.95, A), Det("dog", 0.9, B)]
    # the 0.95 person takes A first; the shifted one finds nothing left; the dog is no car
    assert match(ref, cand, 0.5) == [(0, 1)]


def test_tallies_agreement_and_per_label_precision_recall() -> None:
    frames = [
        ([Det("person", 0.9, A)], [Det("person", 0.9, A)]),  # agrees
        ([], []),  # agrees: nothing in either
        ([Det("person", 0.7, A), Det("car", 0.6, B)], [Det("person", 0.8, A_SHIFTED)]),  # car lost
        ([], [Det("dog", 0.5, B)]),  # the candidate adds a dog
    ]
    result = compare(frames, 0.5)
    assert (result.frames, result.frames_agreeing) == (4, 2)
    assert result.frame_agreement == 0.5
    person, car, dog = (result.labels[k] for k in ("person", "car", "dog"))
    assert (person.tp, person.fp, person.fn) == (2, 0, 0)
    assert (car.recall, car.precision) == (0.0, 1.0)
    assert (dog.precision, dog.recall) == (0.0, 1.0)
    total = result.total
    assert (total.tp, total.fp, total.fn) == (2, 1, 1)
    assert result.agreement == pytest.approx(2 / 4)
    assert total.f1 == pytest.approx(2 / 3)
    assert result.max_score_diff == pytest.approx(0.1)
    assert result.max_box_diff == pytest.approx(0.02)
