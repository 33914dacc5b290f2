"""Checks on untrusted image bytes before any pixel is decoded, shared by the upload API and
the inference workers: the format by magic bytes (never by a label), the byte count, and the
pixel count from the header. Decompression bombs and mislabelled data stop here.

Orientation: EXIF orientation (JPEG, PNG, WebP) is part of the image. The header reports the
upright size, and :func:`upright` turns decoded pixels the way the tag says, so a phone photo
taken sideways is upright for the models and the dashboard alike (as OpenCV's own default
decode shows it)."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from vigil.dlq import DlqReason
from vigil.errors import VigilError

DECODABLE = ("JPEG", "PNG", "WEBP", "BMP")
EXIF_ORIENTATION = 0x0112
# a marker: 0xFF then anything but a stuffed zero, a restart marker or more fill
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field


class ImageCheckError(VigilError, ValueError):
    """Bad image bytes; ``reason`` is a short machine-readable code (DLQ header, HTTP body)."""

    def __init__(self, reason: DlqReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageHeader:
    format: str  # JPEG | PNG | WEBP | BMP
    width: int  # upright: after the EXIF orientation is applied
    height: int
    orientation: int = 1  # EXIF 1-8; 1 = stored upright
    mode: str = ""  # Pillow's pixel mode from the header (RGB, L, CMYK, ...); "" if not read

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) as the pixels are stored, before the orientation is applied."""
        if self.orientation >= 5:  # 5-8 turn the image a quarter
            return self.height, self.width
        return self.width, self.height


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
        raise ImageCheckError(DlqReason.EMPTY_IMAGE, "no image bytes")
    if len(data) > max_bytes:
        raise ImageCheckError(DlqReason.TOO_MANY_BYTES, f"{len(data)} bytes; limit {max_bytes}")
    fmt = sniff_format(data)
    if fmt is None or fmt not in accepted:
        raise ImageCheckError(
            DlqReason.UNSUPPORTED_FORMAT,
            f"{fmt or 'unknown'} data; accepted: {', '.join(accepted)}",
        )
    if expected is not None and expected != fmt:
        raise ImageCheckError(
            DlqReason.FORMAT_MISMATCH, f"labelled {expected} but the bytes are {fmt}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
                orientation = orientation_of(img)
                mode = str(img.mode)
        except Image.DecompressionBombError as exc:
            raise ImageCheckError(DlqReason.TOO_MANY_PIXELS, str(exc)) from None
        except Exception as exc:  # any parser failure on untrusted bytes is bad input
            raise ImageCheckError(DlqReason.UNDECODABLE_IMAGE, f"{fmt} header: {exc}") from None
    if width <= 0 or height <= 0:
        raise ImageCheckError(
            DlqReason.UNDECODABLE_IMAGE, f"{fmt} header declares {width}x{height}"
        )
    if width * height > max_pixels:
        raise ImageCheckError(
            DlqReason.TOO_MANY_PIXELS,
            f"{width}x{height} = {width * height} pixels; limit {max_pixels}",
        )
    if fmt == "JPEG" and jpeg_end(data) is None:
        # libjpeg fills a truncated scan with grey and only warns; a missing end-of-image
        # marker is the reliable sign (0xFFD9 cannot occur inside entropy-coded data).
        raise ImageCheckError(DlqReason.TRUNCATED_IMAGE, "JPEG data has no end-of-image marker")
    if orientation >= 5:
        width, height = height, width
    return ImageHeader(fmt, width, height, orientation, mode)


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when absent or out of range."""
    try:
        value = img.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block does not make the pixels unusable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def jpeg_end(data: bytes) -> int | None:
    """The offset just past the primary image's end-of-image marker, found by walking the
    marker segments (so an EOI inside an EXIF thumbnail does not count); None when the image
    never ends (truncated). Bytes after it (a phone's "motion photo" video, padding) are not
    part of the image."""
    pos, size = 2, len(data)
    while pos < size:
        if data[pos] != 0xFF:  # extraneous bytes: libjpeg skips to the next marker too
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return None
            pos = found.start()
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return pos
        if marker in _STANDALONE:
            continue
        if pos + 2 > size:
            return None
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            return None
        pos += length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return None
            pos = found.start()
    return None


def upright(image: npt.NDArray[np.uint8], orientation: int) -> npt.NDArray[np.uint8]:
    """Pixels decoded as stored (``cv2.IMREAD_IGNORE_ORIENTATION``) turned the way the EXIF
    orientation says: the same result as Pillow's ``ImageOps.exif_transpose``."""
    import cv2  # here, not at the top: the GPU check runs on hosts without OpenCV

    if orientation == 2:
        out = cv2.flip(image, 1)
    elif orientation == 3:
        out = cv2.rotate(image, cv2.ROTATE_180)
    elif orientation == 4:
        out = cv2.flip(image, 0)
    elif orientation == 5:
        out = cv2.transpose(image)
    elif orientation == 6:
        out = cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    elif orientation == 7:
        out = cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    elif orientation == 8:
        out = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    else:
        return image
    return np.ascontiguousarray(out, dtype=np.uint8)
