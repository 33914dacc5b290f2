"""Checking an uploaded image before it is accepted: format by magic bytes (the Content-Type
header is not trusted), pixel count from the header before any pixel is decoded, then one full
decode to prove the data is whole. JPEG passes byte-for-byte up to its end-of-image marker
(bytes after it, such as a phone's "motion photo" video, are dropped and said so); PNG and WebP
become upright 8-bit RGB JPEG, exactly as the workers decode such a file themselves: EXIF
orientation applied, 16-bit samples scaled to 8 bits, palettes expanded, alpha dropped, the
first frame of an animation kept (and said so)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from vigil.images import jpeg_end, orientation_of, sniff_format

JPEG_MAX_SIDE = 65_500  # libjpeg's limit on either side
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


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
    width: int  # upright (EXIF orientation applied)
    height: int
    original_format: str  # JPEG | PNG | WEBP
    transcoded: bool
    # what was changed on the way in, as FrameEvent tags (``vigil.*``) and as sentences for
    # the 202 answer: dropped animation frames, dropped bytes after a JPEG's end
    tags: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


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


def to_rgb(img: Image.Image) -> Image.Image:
    """Upright 8-bit RGB: 16-bit grey is scaled (not clipped to white, as ``convert`` does),
    palettes expanded, alpha dropped (the stored colour kept, as OpenCV decodes it)."""
    img = ImageOps.exif_transpose(img) or img
    if img.mode in _SIXTEEN_BIT:
        grey = np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def check_image(data: bytes, *, max_pixels: int, jpeg_quality: int) -> CheckedImage:
    """Validate ``data`` and return it as JPEG; raises :class:`Rejection` for bad input."""
    if not data:
        raise Rejection(400, "empty_body", "no image bytes received")
    fmt = sniff(data)
    tags: dict[str, str] = {}
    notes: list[str] = []
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
                if fmt != "JPEG" and max(width, height) > JPEG_MAX_SIDE:
                    raise Rejection(
                        400,
                        "unsupported_dimensions",
                        f"{width}x{height}: a side over {JPEG_MAX_SIDE} pixels cannot be JPEG",
                    )
                frames = int(getattr(img, "n_frames", 1) or 1)
                orientation = orientation_of(img)
                img.load()  # the full decode: truncated or corrupt data fails here
                if orientation >= 5:
                    width, height = height, width
                if fmt == "JPEG":
                    return _jpeg(data, width, height)
                rgb = to_rgb(img)
        except Rejection:
            raise
        except Image.DecompressionBombError as exc:
            raise Rejection(413, "too_many_pixels", str(exc)) from None
        except Exception as exc:  # any decoder failure is bad input, never a 500
            raise Rejection(
                400, "undecodable_image", f"{fmt} data does not decode: {exc}"
            ) from None
    if frames > 1:
        tags["vigil.frames_dropped"] = str(frames - 1)
        notes.append(f"animated {fmt} with {frames} frames: only the first frame was kept")
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=jpeg_quality)
    return CheckedImage(
        out.getvalue(), width, height, fmt, transcoded=True, tags=tags, notes=tuple(notes)
    )


def _jpeg(data: bytes, width: int, height: int) -> CheckedImage:
    """A JPEG that decoded: cut at its end-of-image marker; none at all means truncated (the
    worker would dead-letter it)."""
    end = jpeg_end(data)
    if end is None:
        raise Rejection(400, "truncated_image", "JPEG data has no end-of-image marker")
    if end == len(data):
        return CheckedImage(data, width, height, "JPEG", transcoded=False)
    dropped = len(data) - end
    return CheckedImage(
        data[:end],
        width,
        height,
        "JPEG",
        transcoded=False,
        tags={"vigil.trailing_bytes_dropped": str(dropped)},
        notes=(f"{dropped} bytes after the JPEG end-of-image marker were dropped",),
    )
