"""Checking an uploaded image before it is accepted: format by magic bytes (the Content-Type
header is not trusted), pixel count from the header before any pixel is decoded, then one full
decode to prove the data is whole. JPEG passes byte-for-byte; PNG and WebP become JPEG."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vigil.images import sniff_format


class Rejection(Exception):
    """Bad input: an HTTP 4xx with a machine-readable reason."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CheckedImage:
    jpeg: bytes
    width: int
    height: int
    original_format: str  # JPEG | PNG | WEBP
    transcoded: bool


ACCEPTED = ("JPEG", "PNG", "WEBP")


def sniff(data: bytes) -> str:
    """The format named by the first bytes; unsupported or unknown formats are a 415."""
    fmt = sniff_format(data)
    if fmt in ACCEPTED:
        return str(fmt)
    other = "GIF" if fmt == "GIF" else "unknown"
    raise Rejection(
        415, "unsupported_format", f"{other} data; accepted formats: {', '.join(ACCEPTED)}"
    )


def check_image(data: bytes, *, max_pixels: int, jpeg_quality: int) -> CheckedImage:
    """Validate ``data`` and return it as JPEG; raises :class:`Rejection` for bad input."""
    if not data:
        raise Rejection(400, "empty_body", "no image bytes received")
    fmt = sniff(data)
    with warnings.catch_warnings():
        # Pillow's own bomb warning: we enforce our (lower) limit from the header ourselves.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise Rejection(
                        413,
                        "too_many_pixels",
                        f"{width}x{height} = {width * height} pixels; limit {max_pixels}",
                    )
                img.load()  # the full decode: truncated or corrupt data fails here
                if fmt == "JPEG":
                    return CheckedImage(data, width, height, fmt, transcoded=False)
                rgb = img.convert("RGB")
        except Rejection:
            raise
        except Image.DecompressionBombError as exc:
            raise Rejection(413, "too_many_pixels", str(exc)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise Rejection(
                400, "undecodable_image", f"{fmt} data does not decode: {exc}"
            ) from None
        except Exception as exc:  # any other decoder failure is still bad input, never a 500
            raise Rejection(
                400, "undecodable_image", f"{fmt} data does not decode: {exc}"
            ) from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=jpeg_quality)
    return CheckedImage(out.getvalue(), width, height, fmt, transcoded=True)
