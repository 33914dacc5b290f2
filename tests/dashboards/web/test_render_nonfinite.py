"""Boxes with NaN or infinite corners (an old event from a custom model) never make the
dashboard's render raise; a private one blurs the whole frame (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest

from dashboards.web.render import annotate
from tests.corpus import imdecode

NAN, INF = float("nan"), float("inf")


def det(label: str, *box: float) -> dict[str, object]:
    keys = ("x_min", "y_min", "x_max", "y_max")
    return {"label": label, "score": NAN, "box": dict(zip(keys, box, strict=True))}


@pytest.mark.parametrize(
    "box",
    [(NAN, 0.1, 0.5, 0.5), (0.1, 0.1, INF, 0.5), (-INF, NAN, NAN, INF), (0.2, 0.2, 0.4, 0.4)],
)
def test_nonfinite_boxes_render(box: tuple[float, ...]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    jpeg = annotate(image, [det("person", *box), det("car", *box)], blur_faces=True)
    assert imdecode(jpeg).shape == image.shape


def test_a_nan_face_box_blurs_the_whole_frame() -> None:
    image = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    jpeg = annotate(image, [det("face", NAN, NAN, NAN, NAN)], blur_faces=True)
    shown = imdecode(jpeg)
    centre = (slice(60, 180), slice(80, 240))
    # noise blurred away: far less detail than the original in the middle of the frame
    assert shown[centre].std() < image[centre].std() / 3
