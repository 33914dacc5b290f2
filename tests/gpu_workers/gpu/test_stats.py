"""Image statistics, luma and orientation on tensors against the CPU definitions
(``vigil.imagestats``, ``vigil.images.upright``), on real frames."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from gpu_workers.gpu.frames import DeviceFrame, from_bgr, luma, to_bgr, upright
from gpu_workers.gpu.stats import device_stats, reduced
from vigil.images import ImageHeader
from vigil.images import upright as cpu_upright
from vigil.imagestats import image_stats
from vigil.testing.media import frames, still


def images() -> list[Any]:
    return [still(n) for n in ("astronaut", "chelsea", "coffee", "camera")] + frames(
        "bikes.mp4", [0, 50, 100, 150]
    )


def frame(image: Any, reduction: int = 1) -> DeviceFrame:
    return DeviceFrame(
        from_bgr(image, "cpu"), ImageHeader("JPEG", image.shape[1], image.shape[0]), reduction
    )


def test_luma_is_opencvs_bit_for_bit() -> None:
    for image in images():
        got = luma(from_bgr(image, "cpu")[None])[0].numpy()
        assert np.array_equal(got, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_as_the_cpu_path(orientation: int) -> None:
    image = still("chelsea")  # not square: a wrong transpose changes the shape
    got = to_bgr(upright(from_bgr(image, "cpu"), orientation))
    assert np.array_equal(got, cpu_upright(image, orientation))


def test_stats_match_the_cpu_definitions() -> None:
    imgs = images()
    got = device_stats([frame(i) for i in imgs])  # two sizes of bikes share one batch
    for image, stats in zip(imgs, got, strict=True):
        want = image_stats(image)
        assert stats["brightness"] == pytest.approx(want["brightness"], abs=1e-9)
        assert stats["contrast"] == pytest.approx(want["contrast"], abs=1e-9)
        assert stats["sharpness"] == pytest.approx(want["sharpness"], rel=1e-9)
        assert stats["dhash"] == want["dhash"]


def test_stats_at_the_cpu_paths_reduced_scale() -> None:
    """A frame the CPU path decodes at 1/2 (JPEG DCT scaling) is box-averaged by 2 here:
    brightness and contrast within 0.01, sharpness within 15 %, dhash within 4 bits."""
    for image in images():
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        full = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)
        half = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_REDUCED_COLOR_2), np.uint8)
        got = device_stats([frame(full, 2)])[0]
        want = image_stats(half)
        assert tuple(reduced(from_bgr(full, "cpu"), 2).shape[1:]) == half.shape[:2]
        assert got["brightness"] == pytest.approx(want["brightness"], abs=0.01)
        assert got["contrast"] == pytest.approx(want["contrast"], abs=0.01)
        assert got["sharpness"] == pytest.approx(want["sharpness"], rel=0.15)
        assert bin((got["dhash"] or 0) ^ (want["dhash"] or 0)).count("1") <= 4


def test_tiny_frames_take_the_cpu_definitions() -> None:
    tiny = still("coffee")[:5, :7]
    assert device_stats([frame(tiny)])[0] == image_stats(tiny)


def test_grey_copy_for_the_motion_gate() -> None:
    from gpu_workers.worker.motion import grey_copy

    for image in images():
        got = frame(image).grey(160)
        want = grey_copy(image, 160)
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
