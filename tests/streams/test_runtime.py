"""The stream apps' runtime without a broker: the same Kafka security settings as every other
Vigil client, transactional ids that fence a restarted instance's predecessor but not a peer,
and DLQ records that keep the source bytes and say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from confluent_kafka import KafkaError, KafkaException
from pydantic import SecretStr
from quixstreams.exceptions import PartitionAssignmentError
from quixstreams.kafka.exceptions import KafkaProducerDeliveryError

from streams.runtime import (
    Source,
    application,
    connection,
    dead_letter,
    run_app,
    transactional_id,
)
from vigil.dlq import H_COMPONENT, H_ERROR_CLASS, H_ERROR_MESSAGE, H_SOURCE_OFFSET
from vigil_app.settings import KafkaSettings, VigilSettings


def sasl_ssl() -> VigilSettings:
    return VigilSettings(
        kafka=KafkaSettings(
            bootstrap_servers="b1:9096,b2:9096",
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="vigil",
            sasl_password=SecretStr("s3cret"),
            ssl_ca_location=Path("/etc/vigil/ca.pem"),
            client_options={"socket.keepalive.enable": True},
        )
    )


def test_security_settings_reach_both_clients() -> None:
    conn, extras = connection(sasl_ssl())
    assert conn.as_librdkafka_dict() == {
        "bootstrap.servers": "b1:9096,b2:9096",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "vigil",
        "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/vigil/ca.pem",
    }
    assert extras == {"socket.keepalive.enable": True}


def test_application_is_exactly_once_and_reads_committed(tmp_path: Path) -> None:
    settings = sasl_ssl()
    app = application(settings, settings.alerting, group="g", state_dir=tmp_path / "state")
    cfg = app.config
    assert cfg.exactly_once
    assert cfg.consumer_extra_config["isolation.level"] == "read_committed"
    assert cfg.consumer_extra_config["socket.keepalive.enable"] is True
    assert cfg.producer_extra_config["transactional.id"] == transactional_id(
        "g", tmp_path / "state"
    )
    assert cfg.broker_address.sasl_username == "vigil"
    assert cfg.commit_interval == 0.1


def test_transactional_id_is_stable_per_instance_and_distinct_between(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert transactional_id("g", a) == transactional_id("g", a)
    assert transactional_id("g", a) != transactional_id("g", b)
    assert transactional_id("g", a) != transactional_id("h", a)


def test_dead_letter_keeps_the_bytes_and_the_headers() -> None:
    source = Source("t.detections", 3, 41, b"cam-1", b"\x00junk", (("trace", b"1"),))
    out = dead_letter(source, ValueError("bad box"), "alerting", "t.dlq")
    headers = dict(out.headers)
    assert (out.topic, out.value) == ("t.dlq", b"\x00junk")
    assert out.headers[0] == ("trace", b"1")
    assert headers[H_ERROR_CLASS] == b"ValueError"
    assert headers[H_ERROR_MESSAGE] == b"bad box"
    assert headers[H_SOURCE_OFFSET] == b"41"
    assert headers[H_COMPONENT] == b"alerting"


class _App:
    """Stands in for a Quix ``Application``: ``run`` raises the next planned error, if any."""

    def __init__(self, plan: list[BaseException | None]) -> None:
        self.plan = plan
        self.runs = 0

    def run(self) -> None:
        self.runs += 1
        err = self.plan.pop(0)
        if err is not None:
            raise err


def test_run_app_rebuilds_after_a_kafka_client_error_and_not_after_a_bug() -> None:
    timed_out = KafkaProducerDeliveryError(KafkaError(KafkaError._MSG_TIMED_OUT))
    app = _App([timed_out, timed_out, None])
    built = []

    def make() -> Any:
        built.append(1)
        return app

    run_app(make, "test", backoff_s=0)
    assert (app.runs, len(built)) == (3, 3)  # a fresh app after each failure, then a clean stop

    bug = _App([ValueError("a bug in the step")])
    with pytest.raises(ValueError, match="a bug"):
        run_app(lambda: bug, "test", backoff_s=0)
    assert bug.runs == 1  # never retried: a bug is not a broker going away

    wrapped = PartitionAssignmentError("Error during partition assignment")
    wrapped.__cause__ = KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
    moved = _App([wrapped, None])
    run_app(lambda: moved, "test", backoff_s=0)
    assert moved.runs == 2  # a leader moving under a rebalance callback: rebuilt

    assigning_bug = PartitionAssignmentError("Error during partition assignment")
    assigning_bug.__cause__ = KeyError("a bug in on_assign")
    broken = _App([assigning_bug])
    with pytest.raises(PartitionAssignmentError):
        run_app(lambda: broken, "test", backoff_s=0)

    storm = _App([timed_out] * 4)
    with pytest.raises(KafkaProducerDeliveryError):
        run_app(lambda: storm, "test", max_restarts=3, backoff_s=0)
    assert storm.runs == 4  # three restarts, then the fourth failure in the window is raised


def test_a_checkpoint_commit_off_the_rebalance_path_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Quix Streams' InternalProducer.commit_transaction is unbounded by default (librdkafka's
    -1); the runtime bounds it, so a hung coordinator fails the app (rebuilt by run_app)."""
    from quixstreams.internal_producer import InternalProducer

    import streams.runtime as runtime

    seen: list[float | None] = []
    monkeypatch.setattr(runtime, "_unbounded_commit", lambda _s, _p, _g, t: seen.append(t))
    InternalProducer.commit_transaction(cast(Any, None), [], cast(Any, None))
    InternalProducer.commit_transaction(
        cast(Any, None), [], cast(Any, None), 5.0
    )  # the revoke path's
    assert seen == [runtime.COMMIT_TIMEOUT_S, 5.0]
