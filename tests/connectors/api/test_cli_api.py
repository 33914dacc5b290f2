"""``vigil api`` as a real process: it refuses to start without keys, and serves uploads."""

from __future__ import annotations

import os

import httpx
from typer.testing import CliRunner

from tests.connectors.helpers import make_topics, read_frames
from vigil.testing import api_process, free_port
from vigil_app.cli import app
from vigil_app.settings import VigilSettings


def test_api_without_keys_refuses_to_start() -> None:
    result = CliRunner().invoke(app, ["api"], env={"VIGIL_ACCESS__INGEST_KEYS": "[]"})
    assert result.exit_code == 2
    assert "no API keys" in result.output


def test_retired_key_settings_say_what_replaced_them() -> None:
    result = CliRunner().invoke(app, ["api"], env={"VIGIL_INGEST__API_KEYS": '["k-123"]'})
    assert result.exit_code == 2
    assert "access.ingest_keys" in result.output
    result = CliRunner().invoke(app, ["api"], env={"VIGIL_DASHBOARD__POI_KEYS": '["k-123"]'})
    assert result.exit_code == 2
    assert "access.poi_keys" in result.output


def test_api_process_accepts_an_upload(settings: VigilSettings) -> None:
    make_topics(settings)
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_ACCESS__INGEST_KEYS": '["k-123"]',
    }
    with api_process(env, port, settings.data_dir.parent / "api.log") as url:
        from tests.connectors.api.test_images import image

        jpeg = image("JPEG")
        r = httpx.post(
            f"{url}/v1/frames?camera_id=cli", content=jpeg, headers={"X-API-Key": "k-123"}
        )
        assert r.status_code == 202, r.text
    [event] = read_frames(settings)
    assert event["frame_id"] == r.json()["frame_id"]
    assert event["image"] == jpeg
