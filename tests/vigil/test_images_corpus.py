"""The bad-input corpus through the shared header checks and the worker's decode (pure logic):
orientation applied at every DCT scale, a JPEG's end found past trailing bytes and inside
embedded thumbnails, colour formats decoded to the right colours."""

from __future__ import annotations

import io
import struct
from typing import cast

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from gpu_workers.worker.intake import Limits, Rejected, check, decode
from schemas.types import FrameEvent
from tests import corpus
from vigil.images import jpeg_end, read_header, upright
from vigil.imagestats import image_stats

LIMITS = Limits(10**8, 10**8)


def event(encoding: str = "JPEG") -> FrameEvent:
    return cast(FrameEvent, {"encoding": encoding, "width": 0, "height": 0})


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("reduction", [1, 2, 4])
def test_every_orientation_decodes_upright_at_every_scale(orientation: int, reduction: int) -> None:
    data = corpus.oriented(orientation)
    header = check(event(), data, LIMITS)
    assert (header.width, header.height) == corpus.UPRIGHT_SIZE  # the upright size
    assert header.orientation == orientation
    decoded = decode(data, header, reduction)
    width, height = corpus.UPRIGHT_SIZE
    assert decoded.image.shape == (height // reduction, width // reduction, 3)
    assert image_stats(decoded.image)["dhash"] == corpus.UPRIGHT_DHASH


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_and_webp_orientation_too(fmt: str, orientation: int) -> None:
    data = corpus.oriented(orientation, fmt)
    header = check(event(fmt), data, LIMITS)
    decoded = decode(data, header)
    assert image_stats(decoded.image)["dhash"] == corpus.UPRIGHT_DHASH


def test_stored_pixels_differ_from_upright_so_the_check_means_something() -> None:
    for orientation in range(2, 9):
        data = corpus.oriented(orientation)
        stored = corpus.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        assert image_stats(stored)["dhash"] != corpus.UPRIGHT_DHASH, orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_matches_pillow_exif_transpose(orientation: int) -> None:
    pixels = np.random.default_rng(orientation).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    png = corpus.save(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(png))))
    assert np.array_equal(upright(pixels, orientation), expected)


def test_bytes_after_the_end_of_image_are_not_truncation() -> None:
    jpeg = corpus.solid()
    photo = corpus.motion_photo()
    assert jpeg_end(photo) == len(jpeg)
    header = check(event(), photo, LIMITS)  # was truncated_image: EOI not in the last 64 bytes
    assert corpus.near(corpus.mean_rgb(decode(photo, header).image), corpus.RED_RGB)


def test_truncation_is_found_wherever_the_cut_is() -> None:
    jpeg = corpus.progressive_jpeg()
    assert jpeg_end(jpeg) == len(jpeg)
    for cut in range(4, len(jpeg) - 1, 23):
        assert jpeg_end(jpeg[:cut]) is None, cut
    with pytest.raises(Rejected) as info:
        check(event(), jpeg[:-3], LIMITS)
    assert info.value.reason == "truncated_image"


def test_an_end_marker_inside_an_embedded_thumbnail_does_not_count() -> None:
    """An APP segment carrying a whole small JPEG (as EXIF thumbnails do), then a main image
    cut short: its only EOI is the thumbnail's, inside a segment, so it is truncated."""
    thumb = corpus.solid(size=(8, 8))
    segment = b"\xff\xe2" + struct.pack(">H", len(thumb) + 2) + thumb
    main = corpus.solid(size=(64, 48))
    whole = main[:2] + segment + main[2:]
    assert jpeg_end(whole) == len(whole)
    assert jpeg_end(whole[: len(segment) + 200]) is None


@pytest.mark.parametrize(
    ("name", "data", "fmt", "rgb"),
    [
        ("cmyk", corpus.cmyk_jpeg(), "JPEG", corpus.RED_RGB),
        ("progressive", corpus.progressive_jpeg(), "JPEG", corpus.RED_RGB),
        ("palette", corpus.palette_png(), "PNG", corpus.RED_RGB),
        ("alpha", corpus.alpha_png(), "PNG", corpus.RED_RGB),
        ("animated", corpus.animated_webp(), "WEBP", corpus.RED_RGB),  # the first frame
        ("16-bit grey", corpus.png16_grey(), "PNG", (127, 127, 127)),  # not near-white
    ],
)
def test_colour_formats_decode_to_their_colours(
    name: str, data: bytes, fmt: str, rgb: tuple[int, int, int]
) -> None:
    header = check(event(fmt), data, LIMITS)
    decoded = decode(data, header)
    assert decoded.image.dtype == np.uint8
    assert corpus.near(corpus.mean_rgb(decoded.image), rgb), (name, corpus.mean_rgb(decoded.image))


@pytest.mark.parametrize(("width", "height"), [(1, 2000), (2000, 1), (1, 1)])
def test_one_pixel_wide_frames_pass_the_checks(width: int, height: int) -> None:
    data = corpus.thin(width, height)
    header = read_header(data, max_bytes=10**6, max_pixels=10**6)
    assert (header.width, header.height) == (width, height)
    assert decode(data, header).image.shape == (height, width, 3)
