"""Header-only image checks shared by the upload API and the workers (pure logic)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from vigil.images import ImageCheckError, read_header, sniff_format


def encoded(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, format=fmt)
    return out.getvalue()


def noisy_jpeg(size: tuple[int, int] = (96, 96)) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG")
    return out.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose SOF0 header is rewritten to declare ``width`` x ``height``."""
    data = bytearray(encoded("JPEG", (16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_sniff(fmt: str) -> None:
    assert sniff_format(encoded(fmt)) == fmt


def test_header_of_good_jpeg() -> None:
    header = read_header(encoded("JPEG", (64, 48)), max_bytes=10**6, max_pixels=10**6)
    assert (header.format, header.width, header.height, header.pixels) == ("JPEG", 64, 48, 3072)


@pytest.mark.parametrize(
    ("data", "expected", "reason"),
    [
        (b"", "JPEG", "empty_image"),
        (b"\x00\x01garbage" * 4, None, "unsupported_format"),
        (encoded("PNG"), "JPEG", "format_mismatch"),
        (noisy_jpeg()[:-500], "JPEG", "truncated_image"),
        (jpeg_declaring(30000, 30000), "JPEG", "too_many_pixels"),
        (b"\xff\xd8\xff\xe0 not really", None, "undecodable_image"),
        (encoded("GIF"), None, "unsupported_format"),
    ],
)
def test_rejections(data: bytes, expected: str | None, reason: str) -> None:
    with pytest.raises(ImageCheckError) as info:
        read_header(data, max_bytes=10**6, max_pixels=50_000_000, expected=expected)
    assert info.value.reason == reason


def test_byte_limit_before_parsing() -> None:
    with pytest.raises(ImageCheckError) as info:
        read_header(encoded("JPEG"), max_bytes=100, max_pixels=10**6)
    assert info.value.reason == "too_many_bytes"
