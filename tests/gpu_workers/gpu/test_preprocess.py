"""The torch path's preprocessing on the CPU against OpenCV's (``resize_all`` + ``to_input``):
the same placements, every pixel within one grey level, and the detector's detections on real
frames unchanged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gpu_workers.gpu.frames import from_bgr
from gpu_workers.gpu.preprocess import DevicePreprocess
from gpu_workers.models.base import resize_all, to_input
from vigil.testing.media import frames, still

# OpenCV resizes in 11-bit fixed point, torch in float: a pixel may round the other way
MAX_LEVELS = 1
MAX_DIFFERING = 0.15  # fraction of pixels one level apart (measured: 5-11 %)


def images() -> list[Any]:
    return [still(n) for n in ("astronaut", "chelsea", "coffee", "camera")] + frames(
        "bikes.mp4", [0, 50, 100]
    )


@pytest.mark.parametrize(
    ("mode", "size"),
    [
        ("stretch", (300, 300)),
        ("letterbox", (640, 640)),
        ("letterbox", (320, 256)),
        ("stretch", (1280, 736)),
    ],
)
def test_matches_opencv(ssd: Any, mode: str, size: tuple[int, int]) -> None:
    spec = ssd.spec.model_copy(update={"input_size": size, "letterbox": mode == "letterbox"})
    imgs = images()
    resized, places = resize_all(imgs, size, letterbox=mode == "letterbox")
    want = to_input(resized, spec, size)
    pre = DevicePreprocess(spec, mode, "cpu")  # type: ignore[arg-type]
    tensors = [from_bgr(i, "cpu") for i in imgs]
    got, got_places = pre(tensors)
    assert got_places == places
    assert tuple(got.shape) == want.shape
    assert str(got.dtype) == "torch.float32"
    levels, _ = pre.resize(tensors)
    diff = np.abs(levels.numpy().transpose(0, 2, 3, 1)[..., ::-1] - np.stack(resized))
    assert diff.max() <= MAX_LEVELS
    assert (diff > 0).mean() <= MAX_DIFFERING
    # the normalised tensors: one level of difference, scaled
    assert np.abs(got.numpy() - want).max() <= MAX_LEVELS * spec.scale + 1e-6


def test_uint8_nchw_bgr_with_mean(ssd: Any) -> None:
    """Every spec option: a uint8 model gets uint8; BGR order, NCHW layout, mean and std."""
    imgs = images()[:3]
    for update in (
        {"input_dtype": "uint8", "layout": "nchw"},
        {"colour_order": "bgr", "layout": "nchw", "mean": (0.4, 0.5, 0.6), "std": (0.2, 0.3, 0.4)},
    ):
        spec = ssd.spec.model_copy(update=update)
        resized, _ = resize_all(imgs, (300, 300), letterbox=False)
        want = to_input(resized, spec, (300, 300))
        got, _ = DevicePreprocess(spec, "stretch", "cpu")([from_bgr(i, "cpu") for i in imgs])
        assert tuple(got.shape) == want.shape
        assert str(got.dtype).removeprefix("torch.") == str(want.dtype)
        bound = MAX_LEVELS if spec.input_dtype == "uint8" else MAX_LEVELS * spec.scale / 0.2
        assert np.abs(got.numpy().astype(np.float64) - want).max() <= bound + 1e-5


def test_same_detections_as_the_cpu_path(ssd: Any) -> None:
    """SSD on the torch path's input finds what it finds on OpenCV's: same labels, boxes
    within 0.01 of the frame, scores within 0.02."""
    imgs = frames("bikes.mp4", [0, 40, 80, 120, 160, 200])
    want = ssd(imgs)
    pre = DevicePreprocess.for_adapter(ssd, "cpu")
    assert pre is not None
    batch, places = pre([from_bgr(i, "cpu") for i in imgs])
    got = ssd.postprocess(ssd.predict(batch.numpy()), places)
    assert sum(len(w.detections) for w in want) >= 6  # real frames, real objects
    for w, g in zip(want, got, strict=True):
        strong = [d for d in w.detections if d.score >= 0.5]
        for d in strong:
            close = [
                e
                for e in g.detections
                if e.label == d.label
                and abs(e.score - d.score) <= 0.02
                and max(abs(d.box.as_dict()[k] - e.box.as_dict()[k]) for k in d.box.as_dict())
                <= 0.01
            ]
            assert close, f"{d} has no match in {g.detections}"


def test_adapters_without_a_plain_resize_stay_on_the_host(centerface: Any) -> None:
    assert DevicePreprocess.for_adapter(centerface, "cpu") is None


def test_bad_frames_are_refused(ssd: Any) -> None:
    import torch

    pre = DevicePreprocess(ssd.spec, "stretch", "cpu")
    with pytest.raises(ValueError, match="3 x H x W uint8"):
        pre([torch.zeros((4, 10, 10), dtype=torch.uint8)])
    with pytest.raises(ValueError, match="3 x H x W uint8"):
        pre([torch.zeros((3, 10, 10), dtype=torch.float32)])
