"""The upload API against the real broker: good images land on the topic, a corpus of bad ones
is refused with the right 4xx and never reaches it, and large images go by claim check."""

from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from connectors.blobstore import BlobResolver, FileBlobStore
from tests.connectors.helpers import make_topics, read_frames
from vigil.testing import bikes_mp4
from vigil_app.api import create_app
from vigil_app.settings import AccessSettings, VigilSettings

KEY = "s3cret-key-1"
AUTH = {"X-API-Key": KEY}


@pytest.fixture
def api_settings(settings: VigilSettings) -> VigilSettings:
    access = AccessSettings(ingest_keys=(SecretStr("other-key"), SecretStr(KEY)))
    return settings.model_copy(update={"access": access})


@pytest.fixture
def client(api_settings: VigilSettings) -> Iterator[TestClient]:
    make_topics(api_settings)
    with TestClient(create_app(api_settings)) as c:
        yield c


def video_frame() -> np.ndarray[Any, Any]:
    cap = cv2.VideoCapture(str(bikes_mp4()))
    ok, img = cap.read()
    cap.release()
    assert ok
    return img


def encode(fmt: str, img: np.ndarray[Any, Any], **kw: Any) -> bytes:
    out = io.BytesIO()
    Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).save(out, format=fmt, **kw)
    return out.getvalue()


def jpeg_declaring(width: int, height: int, jpeg: bytes) -> bytes:
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


def png_bomb(side: int = 10_000) -> bytes:
    """A 1-bit PNG of side x side zero pixels: ~100 KB on disk, 100 MP decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" * (1 + side // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_good_images_accepted_bad_ones_refused_nothing_else_produced(
    client: TestClient, api_settings: VigilSettings
) -> None:
    img = video_frame()
    jpeg = bytes(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1])
    png = encode("PNG", img)
    webp = encode("WEBP", img, quality=80)

    accepted: dict[str, dict[str, Any]] = {}
    r = client.post(
        "/v1/frames?camera_id=dock-1&tag=site:zurich",
        content=jpeg,
        headers={**AUTH, "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 202, r.text
    accepted[r.json()["frame_id"]] = {"src": jpeg, "fmt": "jpeg"}
    r = client.post(
        "/v1/frames?camera_id=dock-1",
        files={"file": ("x.png", png, "image/png")},
        headers=AUTH,
    )
    assert r.status_code == 202, r.text
    assert r.json()["transcoded"] is True
    accepted[r.json()["frame_id"]] = {"src": png, "fmt": "png"}
    r = client.post(  # the Content-Type header lies; the magic bytes decide
        "/v1/frames?camera_id=dock-1", content=webp, headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert r.status_code == 202, r.text
    accepted[r.json()["frame_id"]] = {"src": webp, "fmt": "webp"}

    gif = io.BytesIO()
    Image.new("RGB", (32, 32)).save(gif, format="GIF")
    max_bytes = api_settings.ingest.max_upload_bytes
    bad: list[tuple[str, dict[str, Any], dict[str, str], int, str]] = [
        ("empty", {"content": b""}, AUTH, 400, "empty_body"),
        ("truncated jpeg", {"content": jpeg[: len(jpeg) // 2]}, AUTH, 400, "undecodable_image"),
        (
            "text named .jpg",
            {"files": {"file": ("cat.jpg", b"just some text, honest", "image/jpeg")}},
            AUTH,
            415,
            "unsupported_format",
        ),
        (
            "jpeg declaring 30000x30000",
            {"content": jpeg_declaring(30000, 30000, jpeg)},
            AUTH,
            413,
            "too_many_pixels",
        ),
        ("png bomb", {"content": png_bomb()}, AUTH, 413, "too_many_pixels"),
        ("gif", {"content": gif.getvalue()}, AUTH, 415, "unsupported_format"),
        ("oversized", {"content": b"\xff\xd8\xff" + bytes(max_bytes)}, AUTH, 413, "body_too_large"),
        ("no key", {"content": jpeg}, {}, 401, "unauthorized"),
        ("wrong key", {"content": jpeg}, {"X-API-Key": KEY + "x"}, 401, "unauthorized"),
        ("bad tag", {"content": jpeg, "params": {"tag": "nocolon"}}, AUTH, 400, "invalid_tag"),
    ]
    for name, kwargs, headers, status, reason in bad:
        r = client.post("/v1/frames", headers=headers, **kwargs)
        assert r.status_code == status, (name, r.text)
        assert r.json()["error"] == reason, name

    events = read_frames(api_settings, expected=3)
    assert {e["frame_id"] for e in events} == set(accepted)
    h, w = img.shape[:2]
    for e in events:
        src = accepted[e["frame_id"]]
        assert (e["camera_id"], e["source_kind"], e["encoding"]) == ("dock-1", "UPLOAD", "JPEG")
        assert (e["width"], e["height"]) == (w, h)
        if src["fmt"] == "jpeg":
            assert e["image"] == jpeg  # byte for byte
            assert e["tags"] == {"site": "zurich"}
        else:
            assert e["image"][:3] == b"\xff\xd8\xff"
            assert e["tags"]["vigil.original_format"] == src["fmt"]
            decoded = cv2.imdecode(np.frombuffer(e["image"], np.uint8), cv2.IMREAD_COLOR)
            assert decoded is not None
            assert decoded.shape == img.shape
            # transcoding kept the picture: mean absolute error of a few grey levels at most
            assert float(np.abs(decoded.astype(int) - img.astype(int)).mean()) < 8
    seqs = [e["sequence"] for e in sorted(events, key=lambda e: e["ingest_ts_ms"])]
    assert seqs == sorted(seqs)


def test_large_image_goes_by_claim_check(client: TestClient, api_settings: VigilSettings) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    big = bytes(cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1])
    assert len(big) > api_settings.ingest.inline_image_bytes
    r = client.post("/v1/frames?camera_id=cam-big", content=big, headers=AUTH)
    assert r.status_code == 202, r.text
    assert r.json()["image_uri"].startswith("file://")
    [event] = read_frames(api_settings, expected=1)
    assert event["image"] is None
    assert event["image_uri"] == r.json()["image_uri"]
    assert BlobResolver.from_settings(api_settings).resolve(event) == big


def test_blob_store_full_is_507_and_nothing_reaches_kafka(
    client: TestClient, api_settings: VigilSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk under the blob store (ENOSPC; the fault suite fills a real tmpfs) refuses a
    claim-check upload with the documented 507 before anything is produced; an inline upload
    still goes through, and so does the large one once space returns."""
    rng = np.random.default_rng(8)
    noise = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    big = bytes(cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])[1])
    put = FileBlobStore.put

    def full(self: FileBlobStore, key: str, data: bytes) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), key)

    monkeypatch.setattr(FileBlobStore, "put", full)
    r = client.post("/v1/frames?camera_id=cam-full", content=big, headers=AUTH)
    assert r.status_code == 507, r.text
    assert r.json()["error"] == "insufficient_storage"
    assert "No space left on device" in r.json()["detail"]
    small = client.post(
        "/v1/frames?camera_id=cam-full", content=encode("JPEG", video_frame()), headers=AUTH
    )
    assert small.status_code == 202, small.text  # inline: no blob needed
    monkeypatch.setattr(FileBlobStore, "put", put)
    again = client.post("/v1/frames?camera_id=cam-full", content=big, headers=AUTH)
    assert again.status_code == 202, again.text
    events = read_frames(api_settings, expected=2)
    assert [e["frame_id"] for e in events] == [small.json()["frame_id"], again.json()["frame_id"]]


def test_health_and_openapi(client: TestClient) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.json()["kafka"] is True
    assert client.get("/openapi.json").status_code == 401  # access.protect_docs
    assert client.get("/docs").status_code == 401
    doc = client.get("/openapi.json", headers=AUTH).json()
    assert "/v1/frames" in doc["paths"]
    assert client.get("/docs", headers=AUTH).status_code == 200
    assert "/v1/frames" in doc["paths"]
    assert "multipart/form-data" in doc["paths"]["/v1/frames"]["post"]["requestBody"]["content"]
