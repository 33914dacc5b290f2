"""POST /v1/poi against the real broker: the API's key and limits apply, one good face per
image enrols, anything else is a 422 that publishes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from schemas.contracts import serde_for
from tests.connectors.helpers import make_topics
from tests.gpu_workers.conftest import zoo_cache
from vigil.testing import read_topic
from vigil.testing.media import frames, still
from vigil.topics import Topic
from vigil_app.api import create_app
from vigil_app.settings import AccessSettings, IngestSettings, VigilSettings

__all__ = ["zoo_cache"]
KEY = "poi-key-1"
VIEWER = "viewer-key-1"
AUTH = {"X-API-Key": KEY}


@pytest.fixture
def api_settings(settings: VigilSettings, zoo_cache: Path) -> VigilSettings:
    ingest = IngestSettings(max_upload_bytes=2_000_000)
    access = AccessSettings(poi_keys=(SecretStr(KEY),), viewer_keys=(SecretStr(VIEWER),))
    return settings.model_copy(update={"ingest": ingest, "access": access, "cache_dir": zoo_cache})


@pytest.fixture
def client(api_settings: VigilSettings) -> Iterator[TestClient]:
    make_topics(api_settings)
    with TestClient(create_app(api_settings)) as c:
        yield c


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def test_enrol_over_the_api(client: TestClient, api_settings: VigilSettings) -> None:
    man = png(frames("carphone_pristine.mp4", [0])[0])
    url = "/v1/poi?person_id=carphone-man&name=Carphone"
    assert client.post(url, content=man).status_code == 401
    # a viewer key (the dashboard's blurred role) may not touch the watch-list (audit H1)
    viewer = client.post(url, content=man, headers={"X-API-Key": VIEWER})
    assert viewer.status_code == 403
    assert viewer.json()["error"] == "forbidden"
    for threshold in ("-1", "0", "1.5", "nan"):
        bad = client.post(url + f"&threshold={threshold}", content=man, headers=AUTH)
        assert bad.status_code == 422, threshold
    assert client.post(url, content=b"GIF89a....", headers=AUTH).status_code == 415
    big = b"\x89PNG\r\n\x1a\n" + bytes(2_100_000)
    assert client.post(url, content=big, headers=AUTH).status_code == 413
    cat = client.post(
        url,
        headers=AUTH,
        files=[("file", ("man.png", man)), ("file", ("cat.png", png(still("chelsea"))))],
    )
    assert cat.status_code == 422
    assert "cat.png: no usable face" in cat.json()["detail"]
    assert read_topic(api_settings, Topic.POI, decode=False) == []

    ok = client.post(url, headers=AUTH, files=[("file", ("man.png", man))])
    assert ok.status_code == 201, ok.text
    assert ok.json()["faces"] == 1
    (msg,) = read_topic(api_settings, Topic.POI, decode=False)
    record = serde_for(api_settings, Topic.POI).decode(msg)
    assert msg.key() == b"carphone-man"
    assert record["display_name"] == "Carphone"
    assert len(record["embeddings"]) == 1
    assert len(record["embeddings"][0]) == 1024
