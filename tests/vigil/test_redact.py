"""Secrets never printed: every secret-bearing setting is set to a known value, then the outputs
— ``vigil config show``, log lines (messages, arguments, tracebacks), a real ``vigil api``
process's logs and its ``/metrics`` — are searched for each value."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.connectors.helpers import make_topics
from vigil.logs import register_secrets, setup_logging
from vigil.redact import MASK, mask_url, masked, secret_values
from vigil.testing import api_process, free_port
from vigil_app.cli import app
from vigil_app.settings import VigilSettings, load_settings

SECRETS = {
    "VIGIL_CLICKHOUSE__URL": ("clickhouse://vigil:ch-Pa55word-x@db:9000/vigil", "ch-Pa55word-x"),
    "VIGIL_SCHEMA_REGISTRY_BASIC_AUTH": ("reg-user:reg-Pa55-y", "reg-Pa55-y"),
    "VIGIL_KAFKA__SSL_KEY_PASSWORD": ("ssl-key-Pa55-z", "ssl-key-Pa55-z"),
    "VIGIL_KAFKA__CLIENT_OPTIONS": (
        json.dumps({"sasl.oauthbearer.client.secret": "oauth-Secret-w", "linger.ms": 5}),
        "oauth-Secret-w",
    ),
    "VIGIL_ACCESS__INGEST_KEYS": ('["ingest-Key-0123456789"]', "ingest-Key-0123456789"),
    "VIGIL_DASHBOARD__SESSION_SECRET": (
        "session-Secret-0123456789abcdef0123456789abcdef",
        "session-Secret-0123456789abcdef0123456789abcdef",
    ),
}


def secret_env() -> dict[str, str]:
    return {name: value for name, (value, _) in SECRETS.items()}


def leaked(text: str) -> list[str]:
    return [secret for _, secret in SECRETS.values() if secret in text]


def test_config_show_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["config", "show"], env=secret_env())
    assert result.exit_code == 0, result.output
    assert leaked(result.output) == []
    assert f"clickhouse://vigil:{MASK}@db:9000/vigil" in result.output
    assert f"sasl.oauthbearer.client.secret: '{MASK}'" in result.output
    assert "linger.ms: 5" in result.output  # ordinary options stay readable


def test_masking_rules() -> None:
    assert mask_url("rtsp://cam:pw%40x@10.0.0.5/live and http://h/x") == (
        f"rtsp://cam:{MASK}@10.0.0.5/live and http://h/x"
    )
    assert masked({"ssl.keystore.password": "p", "nested": ["a://u:p@h"]}) == {
        "ssl.keystore.password": MASK,
        "nested": [f"a://u:{MASK}@h"],
    }


def test_logs_mask_secrets_in_messages_arguments_and_tracebacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in secret_env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert {s for _, s in SECRETS.values()} <= secret_values(settings)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    log = logging.getLogger("vigil.test")
    try:
        setup_logging(settings.model_copy(update={"log_format": "json"}), "test")
        log.warning("connecting to %s", settings.clickhouse.url)
        log.warning("options %s", settings.kafka.client_config())
        log.warning("camera rtsp://admin:cam-Pa55@10.1.1.1/stream failed")
        try:
            raise RuntimeError(f"auth failed for {SECRETS['VIGIL_ACCESS__INGEST_KEYS'][1]}")
        except RuntimeError:
            log.exception("request failed")
        register_secrets(["https://hooks.example/T000/hook-Token-v", "hmac-Key-u"])
        log.warning("webhook https://hooks.example/T000/hook-Token-v said 500 (key hmac-Key-u)")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if line.strip()]) == 5
    assert leaked(err) == []
    for secret in ("cam-Pa55", "hook-Token-v", "hmac-Key-u"):
        assert secret not in err
    assert "request failed" in err
    assert "RuntimeError" in err  # the traceback is kept, only the secret is gone


def test_api_process_logs_and_metrics_hold_no_secret(
    settings: VigilSettings, tmp_path: Path
) -> None:
    make_topics(settings)
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        **secret_env(),
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
        "VIGIL_METRICS_PORT": str(metrics_port),
        "VIGIL_LOG_FORMAT": "json",
        "VIGIL_LOG_LEVEL": "DEBUG",
    }
    out = tmp_path / "api.log"
    with api_process(env, port, out) as url:
        key = SECRETS["VIGIL_ACCESS__INGEST_KEYS"][1]
        wrong = httpx.post(f"{url}/v1/frames", content=b"x", headers={"X-API-Key": "no"})
        assert wrong.status_code == 401
        bad = httpx.post(f"{url}/v1/frames", content=b"not an image", headers={"X-API-Key": key})
        assert bad.status_code == 415
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "vigil_api_uploads" in metrics
    logs = out.read_text()
    assert logs.strip(), "the API wrote no log line at DEBUG"
    assert leaked(metrics) == []
    assert leaked(logs) == []
