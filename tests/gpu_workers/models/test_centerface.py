"""CenterFace (dynamic-size ONNX) finds the faces in real stills and video, and none in the
cat or the coffee."""

from __future__ import annotations

from dataclasses import astuple

import pytest

from gpu_workers.models.centerface import CenterFaceAdapter
from vigil.testing.media import frames, still

# where the face is, as (x, y) of the box centre, normalised; measured once by eye and model
FACES = {"astronaut": (0.44, 0.23), "grace_hopper": (0.52, 0.39)}


@pytest.mark.parametrize("name", sorted(FACES))
def test_finds_the_face_in_stills(centerface: CenterFaceAdapter, name: str) -> None:
    (result,) = centerface([still(name)])
    assert len(result.detections) == 1
    face = result.detections[0]
    cx, cy = (face.box.x_min + face.box.x_max) / 2, (face.box.y_min + face.box.y_max) / 2
    assert abs(cx - FACES[name][0]) < 0.05
    assert abs(cy - FACES[name][1]) < 0.05
    assert face.score > 0.8
    assert face.landmarks is not None
    assert len(face.landmarks) == 5
    x1, y1, x2, y2 = face.box.to_pixels(result.width, result.height)
    for x, y in face.landmarks:  # eyes, nose, mouth corners lie inside the face box
        assert x1 <= x <= x2
        assert y1 <= y <= y2


def test_finds_the_man_in_every_carphone_frame(centerface: CenterFaceAdapter) -> None:
    results = centerface(frames("carphone_pristine.mp4", [0, 30, 60, 90, 119]))
    assert [len(r.detections) for r in results] == [1, 1, 1, 1, 1]
    assert all(r.width == 176 and r.height == 144 for r in results)


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_no_face_in_cat_or_coffee(centerface: CenterFaceAdapter, name: str) -> None:
    (result,) = centerface([still(name)])
    assert result.detections == ()


def test_mixed_sizes_in_one_batch_match_singles(centerface: CenterFaceAdapter) -> None:
    images = [still("astronaut"), *frames("carphone_pristine.mp4", [0]), still("grace_hopper")]
    batched = centerface(images)
    for image, result in zip(images, batched, strict=True):
        (single,) = centerface([image])
        assert len(result.detections) == len(single.detections) == 1
        a, b = result.detections[0].box, single.detections[0].box
        assert max(abs(x - y) for x, y in zip(astuple(a), astuple(b), strict=True)) < 0.01
