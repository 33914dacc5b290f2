"""Pure logic of the worker: batching, validation and decoding, image statistics."""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import pytest

from gpu_workers.worker.batcher import Batcher
from gpu_workers.worker.intake import Limits, Rejected, check, decode, reduction_for
from schemas.types import FrameEvent
from vigil.images import ImageHeader
from vigil.imagestats import dhash, image_stats
from vigil.testing import bikes_jpegs

LIMITS = Limits(max_bytes=10**7, max_pixels=50_000_000)


def test_batch_closes_at_max_size_or_max_wait() -> None:
    b: Batcher[int] = Batcher(max_batch=3, max_wait_s=0.05)
    b.add(1, now=10.0)
    b.add(2, now=10.01)
    assert not b.ready(10.02)
    assert b.wait_s(10.02) == pytest.approx(0.03)
    assert b.ready(10.05)  # the oldest waited max_wait
    b.add(3, now=10.02)
    b.add(4, now=10.03)
    assert b.ready(10.03)
    assert b.wait_s(10.03) == 0
    assert b.take() == [1, 2, 3]
    assert list(b) == [4]


def test_batcher_drop_keeps_order() -> None:
    b: Batcher[int] = Batcher(max_batch=8, max_wait_s=1)
    for i in range(6):
        b.add(i, now=0)
    assert b.drop(lambda i: i % 2 == 0) == [0, 2, 4]
    assert b.take() == [1, 3, 5]


def test_check_then_decode_real_jpeg_with_dct_scaling() -> None:
    jpeg = bikes_jpegs(1, (640, 272))[0]
    header = check(cast(FrameEvent, {"encoding": "JPEG"}), jpeg, LIMITS)
    assert (header.width, header.height) == (640, 272)
    assert reduction_for(header, (300, 300)) == 1  # 272 / 2 < 300
    assert reduction_for(header, (128, 128)) == 2
    assert reduction_for(header, (64, 32)) == 8
    decoded = decode(jpeg, header, reduction_for(header, (128, 128)))
    assert decoded.image.shape == (136, 320, 3)
    assert decoded.reduction == 2


def test_raw_frames_and_their_size_check() -> None:
    raw = bytes(range(256)) * 12  # 64 x 48 grey
    header = check(
        cast(FrameEvent, {"encoding": "RAW_GRAY8", "width": 64, "height": 48}), raw, LIMITS
    )
    assert decode(raw, header).image.shape == (48, 64, 3)
    with pytest.raises(Rejected) as info:
        check(cast(FrameEvent, {"encoding": "RAW_BGR24", "width": 64, "height": 48}), raw, LIMITS)
    assert info.value.reason == "raw_size_mismatch"


def test_header_that_lies_about_the_size_is_rejected_on_decode() -> None:
    jpeg = bikes_jpegs(1, (64, 48))[0]
    with pytest.raises(Rejected) as info:
        decode(jpeg, ImageHeader("JPEG", 128, 96))
    assert info.value.reason == "undecodable_image"


def test_image_stats() -> None:
    flat = np.full((48, 64, 3), 128, np.uint8)
    stats = image_stats(flat)
    assert stats["brightness"] == pytest.approx(128 / 255, abs=1e-3)
    assert stats["contrast"] == pytest.approx(0)
    assert stats["sharpness"] == pytest.approx(0)
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    assert dhash(ramp) == -1  # every left < right: all 64 bits set, as a signed long
    assert dhash(ramp[:, ::-1].copy()) == 0
    noisy = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    assert image_stats(noisy)["sharpness"] > 1000
    blurred = np.asarray(cv2.GaussianBlur(noisy, (9, 9), 3), np.uint8)
    assert image_stats(blurred)["sharpness"] < image_stats(noisy)["sharpness"]
