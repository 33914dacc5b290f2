"""Upload limits that hang on keys, against the real broker: a per-key upload rate (429 with
Retry-After), a bound on images decoded at once (503 with Retry-After), and the reserved tags
``faces`` and ``vigil.*`` (403 unless the key is a trusted uploader). Nothing refused reaches the
topic."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.connectors.api.test_images import image
from tests.connectors.helpers import make_topics, read_frames
from vigil.access import fingerprint
from vigil_app.api import create_app
from vigil_app.settings import AccessSettings, IngestSettings, VigilSettings

KEY = "upload-key-0123456789"
OTHER = "upload-key-other-0123"
TRUSTED = "upload-key-trusted-0123"


def client_for(settings: VigilSettings, **ingest: object) -> TestClient:
    access = AccessSettings(
        ingest_keys=(SecretStr(KEY), SecretStr(OTHER), SecretStr(TRUSTED)),
        trusted_uploaders=(fingerprint(TRUSTED),),
    )
    s = settings.model_copy(update={"access": access, "ingest": IngestSettings(**ingest)})
    make_topics(s)
    return TestClient(create_app(s))


@pytest.fixture
def jpeg() -> bytes:
    return image("JPEG")


def post(client: TestClient, key: str, jpeg: bytes, *tags: str) -> tuple[int, dict[str, str]]:
    resp = client.post(
        "/v1/frames?camera_id=lim",
        content=jpeg,
        params=[("tag", t) for t in tags],
        headers={"X-API-Key": key},
    )
    return resp.status_code, {"error": resp.json().get("error", ""), **resp.headers}


def test_upload_rate_is_per_key(settings: VigilSettings, jpeg: bytes) -> None:
    with client_for(settings, upload_burst=2, uploads_per_s=0.01) as client:
        assert [post(client, KEY, jpeg)[0] for _ in range(2)] == [202, 202]
        status, answer = post(client, KEY, jpeg)
        assert (status, answer["error"]) == (429, "rate_limited")
        assert 90 <= int(answer["retry-after"]) <= 100  # one upload per 100 s
        assert post(client, OTHER, jpeg)[0] == 202  # another key has its own rate
    assert len(read_frames(settings, expected=3)) == 3


def test_decoding_is_bounded(settings: VigilSettings, jpeg: bytes) -> None:
    with client_for(settings, max_decodes=1, decode_wait_s=0) as client:
        slots = client.app.state.decode_slots  # type: ignore[attr-defined]

        async def hold() -> None:  # in the app's loop: the slot an upload in flight holds
            await slots._semaphore().acquire()

        async def release() -> None:
            slots._semaphore().release()

        assert client.portal is not None
        client.portal.call(hold)
        status, answer = post(client, KEY, jpeg)
        assert (status, answer["error"]) == (503, "busy")
        assert int(answer["retry-after"]) >= 1
        client.portal.call(release)
        assert post(client, KEY, jpeg)[0] == 202
    assert len(read_frames(settings, expected=1)) == 1


def test_reserved_tags_need_a_trusted_key(settings: VigilSettings, jpeg: bytes) -> None:
    with client_for(settings) as client:
        for tags in (("faces:1",), ("vigil.original_format:png",), ("site:a", "vigil.x=1")):
            status, answer = post(client, KEY, jpeg, *tags)
            assert (status, answer["error"]) == (403, "reserved_tag"), tags
        assert post(client, KEY, jpeg, "site:a", "facesx:1")[0] == 202  # not reserved
        assert post(client, TRUSTED, jpeg, "faces:1")[0] == 202
    events = read_frames(settings, expected=2)
    assert sorted(tuple(sorted(e["tags"].items())) for e in events) == [
        (("faces", "1"),),
        (("facesx", "1"), ("site", "a")),
    ]
