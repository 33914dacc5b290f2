"""The bad-input corpus through ``POST /v1/frames`` on the real broker: every awkward but
valid image is accepted and lands on ``vigil.frames`` as something the worker decodes to the
right pixels (upright, right colours, first frame); out-of-contract tags and camera ids are
refused with a 400 naming the reason, and nothing of them reaches the topic."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from gpu_workers.worker.intake import Limits, check, decode
from tests import corpus
from tests.connectors.api.test_upload_api import AUTH, api_settings, client
from tests.connectors.helpers import read_frames
from vigil.imagestats import image_stats
from vigil_app.settings import VigilSettings

__all__ = ["api_settings", "client"]
LIMITS = Limits(10**8, 10**8)


def post(client: TestClient, data: bytes, **params: Any) -> Any:
    return client.post(
        "/v1/frames", params={"camera_id": "corpus", **params}, content=data, headers=AUTH
    )


def post_raw(client: TestClient, query: str, data: bytes) -> tuple[int, dict[str, Any]]:
    """``POST /v1/frames?<query>`` straight into the ASGI app, on the client's event loop:
    httpx refuses URLs over 64 KiB, and the app must hold whatever a server lets through."""
    sent: list[MutableMapping[str, Any]] = []
    body = [{"type": "http.request", "body": data, "more_body": False}]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/frames",
        "raw_path": b"/v1/frames",
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"x-api-key", AUTH["X-API-Key"].encode()), (b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return body.pop(0) if body else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await client.app(scope, receive, send)

    portal = client.portal
    if portal is None:
        raise RuntimeError("the client is not started (use it as a context manager)")
    portal.call(call)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(status), json.loads(payload)


def worker_pixels(event: dict[str, Any]) -> np.ndarray[Any, Any]:
    """The record decoded exactly as the worker does it (header checks, then decode)."""
    return decode(event["image"], check(event, event["image"], LIMITS)).image


def test_corpus_is_accepted_and_decodes_right_downstream(
    client: TestClient, api_settings: VigilSettings
) -> None:
    cases: dict[str, tuple[bytes, str]] = {
        **{f"jpeg-o{o}": (corpus.oriented(o), "upright") for o in range(1, 9)},
        **{f"png-o{o}": (corpus.oriented(o, "PNG"), "upright") for o in (3, 6, 8)},
        "webp-o6": (corpus.oriented(6, "WEBP"), "upright"),
        "motion-photo": (corpus.motion_photo(), "red"),
        "cmyk": (corpus.cmyk_jpeg(), "red"),
        "progressive": (corpus.progressive_jpeg(), "red"),
        "palette": (corpus.palette_png(), "red"),
        "alpha": (corpus.alpha_png(), "red"),
        "animated": (corpus.animated_webp(), "red"),
        "png16": (corpus.png16_grey(), "grey"),
        "1x2000-jpeg": (corpus.thin(1, 2000), "red"),
        "2000x1-jpeg": (corpus.thin(2000, 1), "red"),
        "1x2000-png": (corpus.thin(1, 2000, "PNG"), "red"),
    }
    answers: dict[str, dict[str, Any]] = {}
    for name, (data, _) in cases.items():
        r = post(client, data, tag=f"case:{name}")
        assert r.status_code == 202, (name, r.text)
        answers[name] = r.json()

    events = {e["tags"]["case"]: e for e in read_frames(api_settings, expected=len(cases))}
    assert set(events) == set(cases)  # every 202 is on the topic
    for name, (_, expect) in cases.items():
        event, answer = events[name], answers[name]
        pixels = worker_pixels(event)
        assert (event["width"], event["height"]) == (pixels.shape[1], pixels.shape[0]), name
        assert (answer["width"], answer["height"]) == (event["width"], event["height"]), name
        if expect == "upright":
            assert (event["width"], event["height"]) == corpus.UPRIGHT_SIZE, name
            assert image_stats(pixels)["dhash"] == corpus.UPRIGHT_DHASH, name
        elif expect == "red":
            assert corpus.near(corpus.mean_rgb(pixels), corpus.RED_RGB), name
        else:  # 16-bit grey ramp scaled to 8 bits: mid grey, not near-white
            assert corpus.near(corpus.mean_rgb(pixels), (127, 127, 127)), name

    # oriented JPEGs pass byte for byte (the worker turns them); PNG / WebP are turned now
    assert events["jpeg-o6"]["image"] == corpus.oriented(6)
    stored = corpus.imdecode(
        events["png-o6"]["image"], cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    )
    assert image_stats(stored)["dhash"] == corpus.UPRIGHT_DHASH
    # what was dropped on the way in is said, in the answer and on the event
    photo = events["motion-photo"]
    assert photo["image"] == corpus.solid()
    assert photo["tags"]["vigil.trailing_bytes_dropped"] == str(
        len(corpus.motion_photo()) - len(corpus.solid())
    )
    assert "end-of-image" in answers["motion-photo"]["notes"][0]
    assert events["animated"]["tags"]["vigil.frames_dropped"] == "2"
    assert "first frame" in answers["animated"]["notes"][0]
    assert answers["cmyk"]["notes"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"tag": [f"k{i}:v" for i in range(10_000)]}, "too_many_tags"),
        ({"tag": [f"k{i}:{'v' * 256}" for i in range(64)]}, "tags_too_large"),
        ({"tag": ["big:" + "v" * (1 << 20)]}, "tags_too_large"),  # 1 MiB in one tag
        ({"tag": [f"k{i}:{'v' * 250}" for i in range(4000)]}, "too_many_tags"),  # 1 MiB
        ({"camera_id": "kamera-zürich"}, "invalid_camera_id"),
        ({"camera_id": "c" * 10 * 1024}, "invalid_camera_id"),
        ({"camera_id": ""}, "invalid_camera_id"),
        ({"camera_id": "cam 1"}, "invalid_camera_id"),
    ],
)
def test_out_of_contract_fields_are_refused_with_the_reason(
    client: TestClient, api_settings: VigilSettings, params: dict[str, Any], reason: str
) -> None:
    status, body = post_raw(client, urlencode(params, doseq=True), corpus.solid())
    assert status == 400, body
    assert body["error"] == reason
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert read_frames(api_settings) == []  # nothing reached the topic
