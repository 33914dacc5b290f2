"""Reading labels files: COCO as ``vigil dataset export`` writes it, Label Studio's JSON export
(latest non-cancelled annotation per task, frame id from ``data.frame_id`` or the image's file
stem, percent boxes, rotation), and bad files refused with what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.coco import LabelsError
from evaluation.labels import LabelFormat, read_labels
from tests.evaluation.accuracy_data import CAR, PERSON, coco_file


def rect(label: str, x: float, y: float, w: float, h: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 640,
        "original_height": 480,
        "value": {"x": x, "y": y, "width": w, "height": h, "rectanglelabels": [label], **extra},
    }


TASKS: list[dict[str, Any]] = [
    {  # two annotations: the later update counts; a cancelled one is skipped
        "id": 1,
        "data": {"image": "/data/upload/1/cam-1.jpg", "frame_id": "f-1"},
        "annotations": [
            {"result": [rect("car", 50, 50, 40, 40)], "updated_at": "2025-01-02T10:00:00Z"},
            {
                "result": [rect("person", 10, 10, 20, 40), rect("car", 50, 50, 40, 40)],
                "updated_at": "2025-01-03T10:00:00Z",
            },
            {"result": [], "was_cancelled": True, "updated_at": "2025-01-04T10:00:00Z"},
        ],
        "predictions": [{"result": [rect("dog", 0, 0, 10, 10)]}],
    },
    {  # no frame_id: the local-files URL's file stem; an annotation with no boxes
        "id": 2,
        "data": {"image": "/data/local-files/?d=vigil/frames/f-2.jpg"},
        "annotations": [
            {"result": [{"type": "choices", "value": {"choices": ["night"]}}]},
        ],
    },
    {  # only cancelled: not labelled
        "id": 3,
        "data": {"frame_id": "f-3"},
        "annotations": [{"result": [rect("car", 1, 1, 2, 2)], "was_cancelled": True}],
    },
    {"id": 4, "data": {"image": "https://example.com/f-4.jpg"}, "annotations": []},
    {  # rotated 90 degrees about its top-left corner
        "id": 5,
        "data": {"image": "s3://bucket/cams/f-5.png"},
        "annotations": [{"result": [rect("person", 50, 10, 20, 10, rotation=90)]}],
    },
]


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def close(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True))


def test_label_studio_export(tmp_path: Path) -> None:
    got = read_labels(write(tmp_path / "ls.json", TASKS))
    assert got.format is LabelFormat.labelstudio
    assert got.skipped == 2  # tasks 3 and 4
    frames = got.truth.frames
    assert sorted(frames) == ["f-1", "f-2", "f-5"]
    assert [d.label for d in frames["f-1"]] == ["person", "car"]
    assert close(frames["f-1"][0].box, PERSON)
    assert close(frames["f-1"][1].box, CAR)
    assert frames["f-2"] == []  # labelled, nothing there
    # (0.5, 0.1) + rotating (0.2 wide, 0.1 high) by 90 degrees: x in [0.4, 0.5], y in [0.1, 0.3]
    assert close(frames["f-5"][0].box, (0.4, 0.1, 0.5, 0.3))
    assert got.truth.categories == ("car", "person")


def test_coco_file(tmp_path: Path) -> None:
    got = read_labels(coco_file(tmp_path / "coco.json"))
    assert got.format is LabelFormat.coco
    assert got.truth.categories == ("car", "person")
    assert len(got.truth.frames) == 6
    assert got.objects == 5
    assert got.truth.frames["a-4"] == []
    assert close(got.truth.frames["a-0"][1].box, CAR)


def task(*result: Any, tid: int = 1) -> dict[str, Any]:
    return {"id": tid, "data": {"frame_id": "f"}, "annotations": [{"result": list(result)}]}


HALF_BOX = {"type": "rectanglelabels", "value": {"x": 1, "rectanglelabels": ["car"]}}
BAD_LS: list[tuple[Any, str]] = [
    ({"tasks": []}, "neither COCO"),
    ([], "no labelled frames"),
    ([{"id": 7, "annotations": [{"result": []}]}], "task 0 \\(id 7\\).*'data'"),
    ([{"id": 8, "data": {"n": 1}, "annotations": [{"result": []}]}], "no frame_id"),
    ([task(HALF_BOX, tid=9)], "task 0 \\(id 9\\): missing 'y'"),
    ([task(rect("car", 90, 90, 30, 5))], "outside the image"),
    ([task(rect("car", 10, 10, 0, 5))], "is empty"),
    ([task(), task()], "'f' is in more than one task"),
]


@pytest.mark.parametrize(("doc", "why"), BAD_LS)
def test_bad_label_studio_files_say_what_is_wrong(tmp_path: Path, doc: Any, why: str) -> None:
    with pytest.raises(LabelsError, match=why):
        read_labels(write(tmp_path / "bad.json", doc))


def test_bad_coco_files_say_what_is_wrong(tmp_path: Path) -> None:
    path = coco_file(tmp_path / "coco.json")
    doc = json.loads(path.read_text())
    doc["annotations"][0]["image_id"] = 99
    with pytest.raises(LabelsError, match="not a usable COCO labels file"):
        read_labels(write(tmp_path / "a.json", doc))
    doc = json.loads(path.read_text())
    doc["images"][0]["width"] = 0
    with pytest.raises(LabelsError, match="not a usable COCO"):
        read_labels(write(tmp_path / "b.json", doc))
    doc = json.loads(path.read_text())
    doc["annotations"][0]["bbox"] = [600, 10, 200, 10]
    with pytest.raises(LabelsError, match="outside the image"):
        read_labels(write(tmp_path / "c.json", doc))
    (tmp_path / "d.json").write_text("{not json")
    with pytest.raises(LabelsError, match="not a readable JSON file"):
        read_labels(tmp_path / "d.json")
    with pytest.raises(LabelsError, match="COCO is an object"):
        read_labels(write(tmp_path / "e.json", TASKS), LabelFormat.coco)
