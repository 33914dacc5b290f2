"""Validate before decoding, then decode: byte and pixel limits and the format by magic bytes
come from the header (``vigil.images``); only then are pixels decoded, with JPEG DCT scaling
when the model's input is much smaller than the frame, stored pixels turned upright by the
EXIF orientation. Every failure is a :class:`Rejected` with a reason code, which the loop
sends to the DLQ."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from schemas.types import FrameEvent
from vigil.dlq import DlqReason
from vigil.errors import VigilError
from vigil.images import ImageCheckError, ImageHeader, read_header, upright

ENCODED = {"JPEG", "PNG", "WEBP", "BMP"}
RAW_CHANNELS = {"RAW_GRAY8": 1, "RAW_BGR24": 3}
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4))
_REDUCED_2 = (2, cv2.IMREAD_REDUCED_COLOR_2)


class Rejected(VigilError, ValueError):
    """A frame the worker cannot use: it goes to the DLQ with the original bytes, its message
    starting with ``reason`` (a request the upload API refuses is an ``HttpRejection``)."""

    def __init__(self, reason: DlqReason | str, detail: str) -> None:
        self.reason = DlqReason(reason)  # a code outside the enum is a bug: raises ValueError
        super().__init__(f"{self.reason}: {detail}")


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Decoded:
    image: npt.NDArray[np.uint8]  # BGR, possibly reduced by 2/4/8
    header: ImageHeader  # the frame's own size
    reduction: int


def check(event: FrameEvent, data: bytes, limits: Limits) -> ImageHeader:
    """The header of ``data`` after every check that needs no decoding."""
    encoding = str(event.get("encoding") or "UNKNOWN")
    if encoding in RAW_CHANNELS:
        width, height = int(event.get("width") or 0), int(event.get("height") or 0)
        need = width * height * RAW_CHANNELS[encoding]
        if width <= 0 or height <= 0 or width * height > limits.max_pixels:
            raise Rejected(DlqReason.TOO_MANY_PIXELS, f"{encoding} frame declares {width}x{height}")
        if len(data) != need:
            raise Rejected(
                DlqReason.RAW_SIZE_MISMATCH, f"{width}x{height} {encoding} needs {need} bytes"
            )
        return ImageHeader(encoding, width, height)
    expected = encoding if encoding in ENCODED else None
    try:
        return read_header(
            data, max_bytes=limits.max_bytes, max_pixels=limits.max_pixels, expected=expected
        )
    except ImageCheckError as exc:
        raise Rejected(exc.reason, exc.detail) from None


def reduction_for(header: ImageHeader, model_size: tuple[int, int] | None) -> int:
    """The largest DCT scale (8, 4, 2) that keeps the frame at least as big as the model's
    input on both axes; 1 when the model size is unknown or the frame is not JPEG."""
    if model_size is None or header.format != "JPEG":
        return 1
    width, height = model_size
    for factor in (8, 4, 2):
        if header.width // factor >= width and header.height // factor >= height:
            return factor
    return 1


def decode(data: bytes, header: ImageHeader, reduction: int = 1) -> Decoded:
    """Pixels as BGR; raises :class:`Rejected` if the data does not decode to the header's
    size. Runs in the decode pool (``cv2.imdecode`` releases the GIL)."""
    channels = RAW_CHANNELS.get(header.format)
    if channels is not None:
        raw = np.frombuffer(data, np.uint8).reshape(header.height, header.width, channels)
        bgr = cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR) if channels == 1 else raw.copy()
        return Decoded(np.asarray(bgr, np.uint8), header, 1)
    flag = {f: fl for f, fl in (*_REDUCED, _REDUCED_2)}.get(reduction, cv2.IMREAD_COLOR)
    factor = reduction if flag != cv2.IMREAD_COLOR else 1
    # stored pixels, turned here: the same result whatever OpenCV does with EXIF when scaling
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:
        raise Rejected(DlqReason.UNDECODABLE_IMAGE, f"{header.format}: {exc}") from None
    if image is None:
        raise Rejected(DlqReason.UNDECODABLE_IMAGE, f"{header.format} data does not decode")
    h, w = image.shape[:2]
    stored_w, stored_h = header.stored_size
    want = (-(-stored_w // factor), -(-stored_h // factor))
    if abs(w - want[0]) > 1 or abs(h - want[1]) > 1:
        raise Rejected(
            DlqReason.UNDECODABLE_IMAGE, f"decoded {w}x{h}, header says {stored_w}x{stored_h}"
        )
    return Decoded(upright(np.asarray(image, np.uint8), header.orientation), header, factor)
