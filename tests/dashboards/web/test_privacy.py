"""The viewer policy on a real face (the astronaut still), pixels asserted: a frame whose faces
were not looked for (no detections, or the face cascade did not run) reaches a viewer blurred
whole, withheld, or with the faces found now blurred; only the POI role sees faces sharp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from dashboards.web.privacy import BANNER, FaceFinder, Withheld, faces_checked, viewer_image
from gpu_workers.faces import CascadeFaces
from tests.dashboards.web.helpers import FACE_BOX
from tests.gpu_workers.conftest import zoo_cache
from vigil.testing.media import still
from vigil_app.settings import VigilSettings

__all__ = ["zoo_cache"]
# far from the face and from any box or label drawn: the shuttle model, top right
BACKGROUND = {"x_min": 0.72, "y_min": 0.08, "x_max": 0.92, "y_max": 0.5}
FACE = {"label": "face", "class_id": 0, "score": 0.9, "box": FACE_BOX, "embedding": None}


def region(image: Any, box: dict[str, float], inset: int = 8) -> Any:
    h, w = image.shape[:2]
    x0, x1 = int(box["x_min"] * w) + inset, int(box["x_max"] * w) - inset
    y0, y1 = int(box["y_min"] * h) + 3 * inset, int(box["y_max"] * h) - inset
    return image[y0:y1, x0:x1]


def sharpness(pixels: Any) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def change(jpeg: bytes, box: dict[str, float]) -> float:
    """Mean absolute difference to the original inside ``box`` (its border excluded)."""
    original = still("astronaut")
    shown: Any = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert shown.shape == original.shape
    a, b = region(original, box).astype(np.int16), region(shown, box).astype(np.int16)
    return float(np.abs(a - b).mean())


def face_sharpness(jpeg: bytes) -> float:
    shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return sharpness(region(shown, FACE_BOX))


def detection(*, searched: bool | None, faces: bool = True) -> dict[str, Any]:
    det: dict[str, Any] = {"frame_id": "gate-1", "detections": [FACE] if faces else []}
    if searched is not None:
        det["faces_searched"] = searched
    return det


ORIGINAL_FACE = sharpness(region(still("astronaut"), FACE_BOX))


def assert_blurred_whole(jpeg: bytes) -> None:
    assert change(jpeg, FACE_BOX) > 20
    assert face_sharpness(jpeg) < ORIGINAL_FACE / 20  # nothing of the features is left
    assert change(jpeg, BACKGROUND) > 10  # the background too: the whole frame


@pytest.mark.parametrize(
    "det",
    [
        None,  # no DetectionEvent yet: worker lagging or down, frame dead-lettered
        detection(searched=None),  # written before faces_searched existed
        detection(searched=False),  # a face box, but the cascade did not run: others missed
        detection(searched=False, faces=False),
    ],
    ids=["no-detections", "old-event", "not-searched", "not-searched-no-boxes"],
)
def test_unchecked_frames_are_blurred_whole_for_a_viewer(det: dict[str, Any] | None) -> None:
    shown = viewer_image(still("astronaut"), det, poi=False, policy="blur", finder=None)
    assert shown.privacy == "blurred-whole"
    assert_blurred_whole(shown.jpeg)
    # the POI role sees the same frame sharp (JPEG re-encoding only)
    poi = viewer_image(still("astronaut"), det, poi=True, policy="blur", finder=None)
    assert poi.privacy == "unblurred"
    assert change(poi.jpeg, FACE_BOX) < 6
    assert face_sharpness(poi.jpeg) > ORIGINAL_FACE / 2


def test_searched_frames_blur_the_faces_and_keep_the_rest() -> None:
    shown = viewer_image(
        still("astronaut"), detection(searched=True), poi=False, policy="blur", finder=None
    )
    assert shown.privacy == "faces-blurred"
    assert change(shown.jpeg, FACE_BOX) > 20
    assert face_sharpness(shown.jpeg) < ORIGINAL_FACE / 20
    assert change(shown.jpeg, BACKGROUND) < 6  # the rest of the frame is useful, and kept


def test_withhold_refuses_unchecked_frames_only() -> None:
    for det in (None, detection(searched=False)):
        with pytest.raises(Withheld, match="not looked for"):
            viewer_image(still("astronaut"), det, poi=False, policy="withhold", finder=None)
    checked = viewer_image(
        still("astronaut"), detection(searched=True), poi=False, policy="withhold", finder=None
    )
    assert checked.privacy == "faces-blurred"
    poi = viewer_image(still("astronaut"), None, poi=True, policy="withhold", finder=None)
    assert poi.privacy == "unblurred"


def test_detect_without_prepared_models_blurs_whole(tmp_path: Path) -> None:
    empty = VigilSettings(cache_dir=tmp_path / "empty", data_dir=tmp_path)
    finder = FaceFinder(CascadeFaces(empty))
    assert finder.faces(still("astronaut")) is None  # ModelNotPrepared, logged, not raised
    shown = viewer_image(still("astronaut"), None, poi=False, policy="detect", finder=finder)
    assert shown.privacy == "blurred-whole"
    assert_blurred_whole(shown.jpeg)


class Broken(CascadeFaces):
    """Face models that load and then fail on every frame."""

    def detect(self, image: Any) -> list[dict[str, Any]]:
        raise RuntimeError("onnxruntime: out of memory")


def test_detect_that_fails_blurs_whole(tmp_path: Path) -> None:
    finder = FaceFinder(Broken(VigilSettings(data_dir=tmp_path)))
    shown = viewer_image(
        still("astronaut"), detection(searched=False), poi=False, policy="detect", finder=finder
    )
    assert shown.privacy == "blurred-whole"
    assert_blurred_whole(shown.jpeg)


def test_detect_finds_and_blurs_the_face_with_centerface(zoo_cache: Path, tmp_path: Path) -> None:
    finder = FaceFinder(CascadeFaces(VigilSettings(cache_dir=zoo_cache, data_dir=tmp_path)))
    found = finder.faces(still("astronaut"))
    assert found is not None
    assert len(found) == 1  # her face, inside the box drawn by hand
    box = found[0]["box"]
    assert FACE_BOX["x_min"] < (box["x_min"] + box["x_max"]) / 2 < FACE_BOX["x_max"]
    assert FACE_BOX["y_min"] < (box["y_min"] + box["y_max"]) / 2 < FACE_BOX["y_max"]
    shown = viewer_image(still("astronaut"), None, poi=False, policy="detect", finder=finder)
    assert shown.privacy == "faces-detected-now"
    inner = {  # the middle of the face CenterFace found (its box edges are drawn)
        "x_min": box["x_min"] + 0.2 * (box["x_max"] - box["x_min"]),
        "x_max": box["x_max"] - 0.2 * (box["x_max"] - box["x_min"]),
        "y_min": box["y_min"] + 0.1 * (box["y_max"] - box["y_min"]),
        "y_max": box["y_max"] - 0.2 * (box["y_max"] - box["y_min"]),
    }
    assert change(shown.jpeg, inner) > 15
    assert change(shown.jpeg, BACKGROUND) < 6


def test_banner_says_why() -> None:
    shown = viewer_image(still("astronaut"), None, poi=False, policy="blur", finder=None)
    image: Any = cv2.imdecode(np.frombuffer(shown.jpeg, np.uint8), cv2.IMREAD_COLOR)
    strip = image[2:14, 4:200]
    assert strip.mean() < 90  # white text on a dark strip
    assert strip.max() > 200
    assert BANNER.startswith("faces not checked")


def test_faces_checked_only_for_an_explicit_true() -> None:
    assert not faces_checked(None)
    assert not faces_checked({})
    assert not faces_checked({"faces_searched": False})
    assert not faces_checked({"faces_searched": "true"})
    assert not faces_checked({"faces_searched": 1})
    assert faces_checked({"faces_searched": True})
