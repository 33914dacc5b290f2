"""Settings: sources, validation, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vigil_app.settings import ConfigError, VigilSettings, load_settings


def test_unknown_yaml_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("kafka:\n  bootstrap_server: broker:9092\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "unknown setting 'kafka.bootstrap_server'" in str(info.value)
    assert str(cfg) in str(info.value)


def test_unknown_top_level_key_and_bad_value_are_both_reported(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("log_levl: INFO\ntopics:\n  frames_partitions: 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    msg = str(info.value)
    assert "unknown setting 'log_levl'" in msg
    assert "invalid setting 'topics.frames_partitions'" in msg


def test_yaml_then_env_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("kafka:\n  bootstrap_servers: from-yaml:9092\ntopics:\n  prefix: fromyaml\n")
    assert load_settings(cfg).kafka.bootstrap_servers == "from-yaml:9092"
    monkeypatch.setenv("VIGIL_KAFKA__BOOTSTRAP_SERVERS", "from-env:9092")
    s = load_settings(cfg)
    assert s.kafka.bootstrap_servers == "from-env:9092"
    assert s.topics.prefix == "fromyaml"
    assert load_settings(cfg, metrics_port=9100).metrics_port == 9100
    monkeypatch.setenv("VIGIL_CONFIG", str(cfg))
    assert load_settings().topics.prefix == "fromyaml"


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_are_frozen() -> None:
    s = VigilSettings()
    with pytest.raises(ValidationError):
        s.log_level = "DEBUG"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        s.kafka.bootstrap_servers = "x"  # type: ignore[misc]


def test_sasl_scram_and_tls_pass_through(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(
        "kafka:\n"
        "  bootstrap_servers: b1:9096,b2:9096\n"
        "  security_protocol: SASL_SSL\n"
        "  sasl_mechanism: SCRAM-SHA-512\n"
        "  sasl_username: vigil\n"
        "  sasl_password: s3cret\n"
        "  ssl_ca_location: /etc/ssl/ca.pem\n"
        "  client_options:\n"
        "    socket.keepalive.enable: true\n"
    )
    s = load_settings(cfg)
    assert s.kafka.client_config() == {
        "bootstrap.servers": "b1:9096,b2:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "vigil",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "socket.keepalive.enable": True,
    }
    assert "s3cret" not in repr(s)


def test_sasl_without_credentials_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("kafka:\n  security_protocol: SASL_SSL\n")
    with pytest.raises(ConfigError, match="needs sasl_mechanism"):
        load_settings(cfg)


def test_client_options_cannot_turn_off_read_committed(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("kafka:\n  client_options:\n    isolation.level: read_uncommitted\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    msg = str(info.value)
    assert "invalid setting 'kafka.client_options'" in msg
    assert "isolation.level='read_uncommitted' is refused" in msg
    assert str(cfg) in msg


def test_client_options_may_repeat_read_committed(tmp_path: Path) -> None:
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text("kafka:\n  client_options:\n    isolation.level: read_committed\n")
    conf = load_settings(cfg).kafka.client_config()
    assert conf["isolation.level"] == "read_committed"


def test_a_retired_stream_setting_names_what_replaced_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ALERTING__STALL_S", "15")
    with pytest.raises(ConfigError, match=r"'alerting'.*'stall_s' removed.*Quix Streams"):
        load_settings()
