"""The bad-input corpus: awkward but valid images (EXIF orientation 1-8, bytes after a JPEG's
end, CMYK, progressive, 16-bit / palette / alpha PNG, animated WebP, 1 x N), shared by the
upload-API tests and the worker tests so both prove the same files.

Oriented files carry a scene whose dhash (``vigil.imagestats``) is known only when it is
upright: the top quarter brightens left to right, the rest darkens (no half-turn or mirror
maps it onto itself), and every horizontally adjacent pair differs by far more than JPEG
noise. An upright decode gives
:data:`UPRIGHT_DHASH` exactly; a sideways or mirrored one gives something else."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from vigil.imagestats import dhash, luma

Pixels = npt.NDArray[np.uint8]
UPRIGHT_SIZE = (144, 96)  # width, height: landscape, so a quarter turn shows in the shape
RED_RGB = (200, 30, 30)
# the PIL transpose that turns the upright scene into the stored pixels of each orientation
# (the inverse of what the EXIF tag asks a viewer to do)
_STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # viewer turns it 90 degrees clockwise
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright_scene() -> Pixels:
    """RGB, ``UPRIGHT_SIZE``: top quarter a rising ramp, the rest a falling one."""
    width, height = UPRIGHT_SIZE
    ramp = np.linspace(20, 235, width).astype(np.uint8)
    scene = np.empty((height, width, 3), np.uint8)
    scene[: height // 4] = ramp[None, :, None]
    scene[height // 4 :] = ramp[::-1][None, :, None]
    return scene


UPRIGHT_DHASH = dhash(luma(upright_scene()))


def save(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def oriented(orientation: int, fmt: str = "JPEG") -> bytes:
    """The upright scene stored turned, with the EXIF orientation that turns it back."""
    img = Image.fromarray(upright_scene())
    if orientation in _STORE:
        img = img.transpose(_STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    quality = {"quality": 95} if fmt != "PNG" else {}
    return save(img, fmt, exif=exif.tobytes(), **quality)


def solid(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), **options: Any) -> bytes:
    return save(Image.new("RGB", size, RED_RGB), fmt, **options)


def motion_photo() -> bytes:
    """A JPEG followed by 200 KB of "video", as phones write them (more than any tail check
    of the last bytes would look at), with a fake second SOI to look like a real one."""
    return solid() + b"\x00\x00\x00\x18ftypmp42" + b"\xff\xd8\xff\xe1" + bytes(200_000)


def cmyk_jpeg() -> bytes:
    return save(Image.new("RGB", (64, 48), RED_RGB).convert("CMYK"), "JPEG", quality=95)


def progressive_jpeg() -> bytes:
    return solid(progressive=True, quality=95)


def png16_grey() -> bytes:
    """16-bit grey ramp 0..65535: the mean is half grey (``convert("RGB")`` makes it white)."""
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    return save(Image.fromarray(ramp), "PNG")


def palette_png() -> bytes:
    return save(
        Image.new("RGB", (64, 48), RED_RGB).convert("P", palette=Image.Palette.ADAPTIVE), "PNG"
    )


def alpha_png() -> bytes:
    """Fully transparent red: alpha is dropped, the stored colour kept (as OpenCV does)."""
    return save(Image.new("RGBA", (64, 48), (*RED_RGB, 0)), "PNG")


def animated_webp(frames: int = 3) -> bytes:
    """``frames`` frames: red first, then green, blue."""
    colours = [RED_RGB, (30, 200, 30), (30, 30, 200)]
    images = [Image.new("RGB", (64, 48), colours[i % 3]) for i in range(frames)]
    return save(
        images[0], "WEBP", save_all=True, append_images=images[1:], duration=100, lossless=True
    )


def thin(width: int, height: int, fmt: str = "JPEG") -> bytes:
    """1 x N or N x 1: the letterbox resize once asked OpenCV for a 0-pixel side."""
    return save(Image.new("RGB", (width, height), RED_RGB), fmt)


def mean_rgb(bgr: Pixels) -> tuple[float, float, float]:
    b, g, r = (float(bgr[..., i].mean()) for i in range(3))
    return r, g, b


def near(
    colour: tuple[float, float, float], expected: tuple[int, int, int], tol: float = 8
) -> bool:
    return all(abs(c - e) <= tol for c, e in zip(colour, expected, strict=True))


def imdecode(data: bytes, flags: int = cv2.IMREAD_COLOR) -> Pixels:
    """``cv2.imdecode`` that fails loudly instead of returning None."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ValueError("OpenCV could not decode the bytes")
    return np.asarray(image, np.uint8)
