"""Image checks without the HTTP layer (pure logic)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vigil.web.images import Rejection, check_image, sniff


def image(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WEBP")])
def test_sniff_by_magic_bytes(fmt: str, name: str) -> None:
    assert sniff(image(fmt)) == name


def test_jpeg_passes_byte_for_byte_png_is_transcoded() -> None:
    jpeg = image("JPEG")
    assert check_image(jpeg, max_pixels=10_000, jpeg_quality=90).jpeg == jpeg
    png = check_image(image("PNG"), max_pixels=10_000, jpeg_quality=90)
    assert png.transcoded
    assert png.jpeg[:3] == b"\xff\xd8\xff"
    assert (png.width, png.height) == (40, 30)


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"", 400, "empty_body"),
        (b"GIF89a....", 415, "unsupported_format"),
        (b"\xff\xd8\xff\xe0 not really", 400, "undecodable_image"),
    ],
)
def test_rejections(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(Rejection) as info:
        check_image(data, max_pixels=10_000, jpeg_quality=90)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_pixel_limit_from_header() -> None:
    with pytest.raises(Rejection) as info:
        check_image(image("PNG", (200, 100)), max_pixels=19_999, jpeg_quality=90)
    assert (info.value.status, info.value.reason) == (413, "too_many_pixels")
