"""SSD-MobileNet-v2 (ONNX cut before TF's NMS, decoded here) on real media."""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpu_workers.models.ssd import SsdAdapter, ssd_anchors
from gpu_workers.models.types import Detection, Detections
from vigil.testing.media import frames, still

BOX_TOL = 0.01  # normalised coordinates
SCORE_TOL = 0.01
COMPARE_THRESHOLD = 0.3


def _opencv_reference(zoo_cache: Path, image: np.ndarray, labels: list[str]) -> list[Detection]:
    """The original frozen graph (with TF's own post-processing) through OpenCV's DNN."""
    from gpu_workers.models.types import Box

    src = zoo_cache / "models" / "ssd_mobilenet_v2_coco" / "source"
    net = cv2.dnn.readNetFromTensorflow(
        str(src / "frozen_inference_graph.pb"),
        str(src / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"),
    )
    net.setInput(cv2.dnn.blobFromImage(image, size=(300, 300), swapRB=True, crop=False))
    out = net.forward()[0, 0]
    out = out[out[:, 2] > COMPARE_THRESHOLD]
    return [
        Detection(
            labels[int(row[1]) - 1],
            int(row[1]),
            float(row[2]),
            Box(*(float(np.clip(v, 0, 1)) for v in row[3:7])),
        )
        for row in out
    ]


def test_onnx_matches_the_frozen_graph_run_by_opencv(zoo_cache: Path, ssd: SsdAdapter) -> None:
    images = [*frames("bikes.mp4", [30, 80, 120, 130, 190, 210]), still("astronaut")]
    images += [still("coffee"), still("chelsea")]
    low = SsdAdapter(
        ssd.spec.model_copy(update={"score_threshold": COMPARE_THRESHOLD}), ssd.engine, ssd.identity
    )
    compared = 0
    for image, ours in zip(images, low(images), strict=True):
        theirs = _opencv_reference(zoo_cache, image, ssd.spec.labels)
        assert len(ours.detections) == len(theirs)
        remaining = list(theirs)
        for d in ours.detections:
            match = [
                t
                for t in remaining
                if t.class_id == d.class_id
                and abs(t.score - d.score) <= SCORE_TOL
                and max(abs(a - b) for a, b in zip(astuple(d.box), astuple(t.box), strict=True))
                <= BOX_TOL
            ]
            assert match, f"{d} has no OpenCV counterpart in {theirs}"
            remaining.remove(match[0])
            compared += 1
    assert compared >= 15


def test_anchors_match_the_graphs_anchors(zoo_cache: Path, ssd: SsdAdapter) -> None:
    assert ssd.spec.anchors is not None
    graph = np.load(zoo_cache / "models" / "ssd_mobilenet_v2_coco" / "anchors.npy")
    assert np.abs(ssd_anchors(ssd.spec.anchors) - graph).max() < 1e-6


def _find(result: Detections, label: str) -> Detection:
    found = [d for d in result.detections if d.label == label]
    assert found, f"no {label} in {result.labels()}"
    return found[0]


def _centre(d: Detection) -> tuple[float, float]:
    return (d.box.x_min + d.box.x_max) / 2, (d.box.y_min + d.box.y_max) / 2


def test_bikes_people_bicycles_and_cars_where_they_are(ssd: SsdAdapter) -> None:
    f30, f120, f130, f210 = ssd(frames("bikes.mp4", [30, 120, 130, 210]))
    car = _find(f30, "car")  # parked on the left edge
    assert car.box.x_max < 0.3
    for frame in (f120, f130):  # a cyclist right of centre: person above the bicycle
        person, bike = _find(frame, "person"), _find(frame, "bicycle")
        px, py = _centre(person)
        bx, by = _centre(bike)
        assert 0.55 < px < 0.8
        assert 0.55 < bx < 0.85
        assert by > py
        assert bike.box.y_max > 0.9
        assert person.score > 0.9
    assert _find(f210, "bicycle").score > 0.8


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_no_person_in_cat_or_coffee(ssd: SsdAdapter, name: str) -> None:
    (result,) = ssd([still(name)])
    assert "person" not in result.labels()
    assert result.labels()[0] == {"chelsea": "cat", "coffee": "cup"}[name]


def test_batch_gives_the_same_as_one_by_one(ssd: SsdAdapter) -> None:
    images = [*frames("bikes.mp4", [30, 120]), still("astronaut"), still("chelsea")]
    batched = ssd(images)
    single = [ssd([i])[0] for i in images]
    for a, b in zip(batched, single, strict=True):
        assert a.labels() == b.labels()
        for x, y in zip(a.detections, b.detections, strict=True):
            assert abs(x.score - y.score) < 1e-4


def test_every_result_carries_the_model_identity(zoo_cache: Path, ssd: SsdAdapter) -> None:
    from gpu_workers.zoo import read_entry

    entry = read_entry(zoo_cache, "ssd_mobilenet_v2_coco")
    assert entry is not None
    (result,) = ssd([still("astronaut")])
    assert result.model.name == "ssd_mobilenet_v2_coco"
    assert result.model.version == "2018_03_29"
    assert result.model.sha256 == entry["sha256"]
    assert str(result.model).endswith("@" + entry["sha256"][:12])


def test_results_fill_a_valid_detection_event(zoo_cache: Path, ssd: SsdAdapter) -> None:
    from schemas import contracts
    from vigil.testing.samples import detection_event
    from vigil_app.settings import VigilSettings

    (result,) = ssd([still("astronaut")])
    event = {**detection_event(), **result.event_fields()}
    serde = contracts.make_serde(VigilSettings(cache_dir=zoo_cache), contracts.DETECTION_EVENT)
    back = serde.deserialize(serde.serialize(event, topic="t"), topic="t")
    assert back["model_name"] == "ssd_mobilenet_v2_coco"
    assert back["model_version"] == f"2018_03_29+{ssd.identity.sha256[:12]}"
    assert [d["label"] for d in back["detections"]] == result.labels()


def test_spec_with_the_wrong_label_count_is_refused(ssd: SsdAdapter) -> None:
    from gpu_workers.models.spec import SpecError

    short = ssd.spec.model_copy(update={"labels": ssd.spec.labels[:80]})
    with pytest.raises(SpecError, match=r"labels: the spec lists 80 labels .* model outputs 91"):
        SsdAdapter(short, ssd.engine, ssd.identity)


def test_images_that_are_not_bgr_uint8_are_refused(ssd: SsdAdapter) -> None:
    with pytest.raises(ValueError, match=r"H x W x 3 uint8 \(BGR\); got shape \(40, 30\)"):
        ssd([np.zeros((40, 30), np.uint8)])
    with pytest.raises(ValueError, match="float32"):
        ssd([np.zeros((40, 30, 3), np.float32)])
