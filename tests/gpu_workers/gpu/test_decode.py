"""JPEG batches decoded by torchvision (libjpeg-turbo on the CPU device; nvJPEG on a GPU):
the pixels OpenCV decodes, the EXIF orientation applied, and every frame the device refuses
decoded on the CPU instead, counted by reason; a bad frame costs only itself."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from gpu_workers.gpu.decode import FALLBACKS, DeviceDecoder, Encoded
from gpu_workers.gpu.frames import to_bgr
from gpu_workers.worker import intake
from gpu_workers.worker.intake import Limits, Rejected
from vigil.testing.media import frames, still

LIMITS = Limits(20 << 20, 50_000_000)


def cpu_decode(data: bytes, header: Any) -> Any:
    return intake.decode(data, header, 1).image


def encoded(data: bytes) -> Encoded:
    event: Any = {"encoding": "UNKNOWN"}
    return Encoded(data, intake.check(event, data, LIMITS))


def jpeg(image: Any, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def fallbacks(reason: str) -> float:
    return FALLBACKS.labels(reason)._value.get()  # type: ignore[no-any-return]


def test_a_batch_decodes_like_opencv() -> None:
    imgs = [*frames("bikes.mp4", [0, 60, 120]), still("astronaut"), still("coffee")]
    datas = [jpeg(i) for i in imgs]
    got = DeviceDecoder("cpu", cpu_decode)([encoded(d) for d in datas])
    for data, tensor in zip(datas, got, strict=True):
        want = np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), np.uint8)
        diff = np.abs(to_bgr(tensor).astype(int) - want.astype(int))
        # both are libjpeg-turbo here; nvJPEG's IDCT and upsampling may differ by a few levels
        assert diff.max() <= 2, diff.max()


def exif_jpeg(image: Any, orientation: int) -> bytes:
    pil = Image.fromarray(image[..., ::-1])
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    pil.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    data = exif_jpeg(still("chelsea"), orientation)
    frame = encoded(data)
    (got,) = DeviceDecoder("cpu", cpu_decode)([frame])
    want = cpu_decode(data, frame.header)
    assert to_bgr(got).shape == want.shape
    assert np.abs(to_bgr(got).astype(int) - want.astype(int)).max() <= 2


def test_refused_formats_take_the_cpu_path_and_are_counted() -> None:
    image = frames("bikes.mp4", [10])[0]
    ok, png = cv2.imencode(".png", image)
    assert ok
    out = io.BytesIO()
    Image.fromarray(image[..., ::-1]).convert("CMYK").save(out, "JPEG", quality=95)
    cmyk = out.getvalue()
    before = fallbacks("format"), fallbacks("cmyk")
    got = DeviceDecoder("cpu", cpu_decode)(
        [encoded(jpeg(image)), encoded(png.tobytes()), encoded(cmyk)]
    )
    assert (fallbacks("format"), fallbacks("cmyk")) == (before[0] + 1, before[1] + 1)
    assert np.array_equal(to_bgr(got[1]), image)  # PNG: lossless, OpenCV's pixels
    assert to_bgr(got[2]).shape == image.shape


def test_a_bad_frame_costs_only_itself() -> None:
    """A JPEG whose header reads but whose Huffman table is bogus: the batched decode fails,
    each frame is decoded alone, the bad one takes the CPU path, whose Rejected (the DLQ's
    reason) is its result; the good frames around it decode."""
    good = [jpeg(i) for i in frames("bikes.mp4", [0, 1])]
    at = good[0].index(b"\xff\xc4") + 5  # DHT: marker, length (2), class/id, 16 counts
    bad = good[0][:at] + b"\xff" * 16 + good[0][at + 16 :]
    before = fallbacks("decode_error")
    got = DeviceDecoder("cpu", cpu_decode)([encoded(good[0]), encoded(bad), encoded(good[1])])
    assert not isinstance(got[0], Exception)
    assert not isinstance(got[2], Exception)
    assert tuple(got[0].shape) == (3, 272, 640)
    assert isinstance(got[1], Rejected)
    assert got[1].reason == "undecodable_image"
    assert fallbacks("decode_error") == before + 1
