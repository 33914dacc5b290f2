"""Checks on untrusted image bytes before any pixel is decoded, shared by the upload API and
the inference workers: the format by magic bytes (never by a label), the byte count, and the
pixel count from the header. Decompression bombs and mislabelled data stop here."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

DECODABLE = ("JPEG", "PNG", "WEBP", "BMP")
JPEG_EOI = b"\xff\xd9"


class ImageCheckError(ValueError):
    """Bad image bytes; ``reason`` is a short machine-readable code (DLQ header, HTTP body)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageHeader:
    format: str  # JPEG | PNG | WEBP | BMP
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_format(data: bytes) -> str | None:
    """The format named by the first bytes: JPEG, PNG, WEBP, BMP, GIF, or None if unknown."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM" and len(data) >= 26:
        return "BMP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


def read_header(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    expected: str | None = None,
    accepted: tuple[str, ...] = DECODABLE,
) -> ImageHeader:
    """Format, width and height from the header alone; raises :class:`ImageCheckError` for
    empty, oversized, unknown, mislabelled (``expected`` differs), too-many-pixel or (JPEG)
    visibly truncated data. Only the header is parsed: a 30000x30000 JPEG costs nothing."""
    if not data:
        raise ImageCheckError("empty_image", "no image bytes")
    if len(data) > max_bytes:
        raise ImageCheckError("too_many_bytes", f"{len(data)} bytes; limit {max_bytes}")
    fmt = sniff_format(data)
    if fmt is None or fmt not in accepted:
        raise ImageCheckError(
            "unsupported_format", f"{fmt or 'unknown'} data; accepted: {', '.join(accepted)}"
        )
    if expected is not None and expected != fmt:
        raise ImageCheckError("format_mismatch", f"labelled {expected} but the bytes are {fmt}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
        except Image.DecompressionBombError as exc:
            raise ImageCheckError("too_many_pixels", str(exc)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageCheckError("undecodable_image", f"{fmt} header: {exc}") from None
    if width <= 0 or height <= 0:
        raise ImageCheckError("undecodable_image", f"{fmt} header declares {width}x{height}")
    if width * height > max_pixels:
        raise ImageCheckError(
            "too_many_pixels", f"{width}x{height} = {width * height} pixels; limit {max_pixels}"
        )
    if fmt == "JPEG" and JPEG_EOI not in data[-64:]:
        # libjpeg fills a truncated scan with grey and only warns; a missing end-of-image
        # marker is the reliable sign (0xFFD9 cannot occur inside entropy-coded data).
        raise ImageCheckError("truncated_image", "JPEG data has no end-of-image marker")
    return ImageHeader(fmt, width, height)
