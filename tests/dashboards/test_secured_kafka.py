"""The compose stack's broker, for real: ``dashboards/kafka/start.sh`` (what docker-compose.yml's
``kafka`` service runs) started against Apache Kafka's jars from Maven Central. Every listener a
client can reach needs SASL/SCRAM: a client without credentials or with a wrong password gets
nothing; Vigil's clients (topics, transactional producer, read_committed consumer) and a stream
app on Quix Streams, exactly-once, work with the SCRAM settings the compose file gives them."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from vigil import kafka
from vigil.stack.kafka import MAIN_CLASS, STORAGE_TOOL, KafkaBroker, fetch_kafka_jars
from vigil.testing import free_port, read_to_end, user_cache_dir, wait_until, write_committed
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import AlertingSettings, KafkaSettings, TopicSettings, VigilSettings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "dashboards" / "kafka" / "start.sh"


def kafka_home(tmp: Path) -> Path:
    """``bin/kafka-storage.sh`` and ``bin/kafka-server-start.sh`` as in the apache/kafka image,
    running the Maven Central jars."""
    broker = KafkaBroker(home=tmp / "jvm", cache_dir=user_cache_dir())
    (tmp / "jvm" / "tmp").mkdir(parents=True)
    (tmp / "jvm" / "log4j2.properties").write_text(
        "rootLogger.level = WARN\nrootLogger.appenderRef.stdout.ref = STDOUT\n"
        "appender.stdout.type = Console\nappender.stdout.name = STDOUT\n"
        "appender.stdout.layout.type = PatternLayout\nappender.stdout.layout.pattern = %m%n\n"
    )
    libs = fetch_kafka_jars(user_cache_dir(), broker.version)
    bin_dir = tmp / "home" / "bin"
    bin_dir.mkdir(parents=True)
    for name, main in (("kafka-storage.sh", STORAGE_TOOL), ("kafka-server-start.sh", MAIN_CLASS)):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {shlex.join(broker.java_command(libs, main))} "$@"\n')
        script.chmod(0o755)
    return bin_dir.parent


def certificates(tls: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, as the script wants them: ``server.pem``
    (unencrypted PKCS#8 key + chain) and ``ca.pem`` for clients."""
    tls.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=vigil-test-ca")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    (tls / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.p8")
    pem = (tls / "server.p8").read_text() + (tls / "server.crt").read_text()
    (tls / "server.pem").write_text(pem)


class Secured:
    def __init__(self, port: int, password: str, protocol: str, ca: Path | None) -> None:
        self.bootstrap = f"127.0.0.1:{port}"
        self.password = password
        self.protocol = protocol
        self.ca = ca

    def settings(self, tmp: Path, password: str | None = None) -> VigilSettings:
        return VigilSettings(
            kafka=KafkaSettings(
                bootstrap_servers=self.bootstrap,
                security_protocol=self.protocol,
                ssl_ca_location=self.ca,
                sasl_mechanism="SCRAM-SHA-512",
                sasl_username="vigil",
                sasl_password=password or self.password,
            ),
            topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:10]}"),
            data_dir=tmp / "data",
            cache_dir=user_cache_dir(),
        )


def script_env(tmp: Path, password: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_PASSWORD": password,
        "KAFKA_HOME": str(tmp / "home"),
        "KAFKA_DATA": str(tmp / "data"),
        "KAFKA_CONFIG": str(tmp / "server.properties"),
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_ADVERTISED_HOST": "127.0.0.1",
    }


@pytest.fixture(scope="module", params=["SASL_PLAINTEXT", "SASL_SSL"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    """The script's broker without a certificate (SASL_PLAINTEXT) and with one (SASL_SSL)."""
    tmp = tmp_path_factory.mktemp("secured-kafka")
    kafka_home(tmp)
    port, password = free_port(), secrets.token_hex(16)
    env = script_env(tmp, password, port)
    ca = None
    if request.param == "SASL_SSL":
        certificates(tmp / "tls")
        env["KAFKA_TLS_DIR"], ca = str(tmp / "tls"), tmp / "tls" / "ca.pem"
    log = (tmp / "kafka.log").open("wb")
    proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=log, stderr=log)
    broker = Secured(port, password, request.param, ca)
    admin = kafka.admin(broker.settings(tmp))

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp / "kafka.log").read_text()[-4000:])
        try:
            return bool(admin.list_topics(timeout=1).brokers)
        except KafkaException:
            return False

    try:
        wait_until(up, 120, "the SCRAM broker to answer")
        yield broker
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_script_refuses_a_weak_password(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env=script_env(tmp_path, "short", free_port()),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 2
    assert "16 or more" in done.stderr
    assert not (tmp_path / "server.properties").exists()


@pytest.mark.parametrize("how", ["no credentials", "wrong password"])
def test_clients_without_the_scram_password_get_nothing(
    secured: Secured, tmp_path: Path, how: str
) -> None:
    if how == "no credentials":
        conf = {"bootstrap.servers": secured.bootstrap, "log_level": 0}
    else:
        wrong = secured.settings(tmp_path, "not-the-password-at-all")
        conf = {**wrong.kafka.client_config(), "log_level": 0}
    with pytest.raises(KafkaException):
        AdminClient(conf).list_topics(timeout=5)


def test_vigil_clients_and_a_stream_app_work_over_scram(secured: Secured, tmp_path: Path) -> None:
    settings = secured.settings(tmp_path)
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    source = Topic.DETECTIONS.name_in(settings.topics)
    target = Topic.ALERTS.name_in(settings.topics)
    write_committed(settings, source, [(b"cam-1", b"one"), (b"cam-1", b"two")])
    assert [m.value() for m in read_to_end(settings, source)] == [b"one", b"two"]

    from streams.runtime import application

    app = application(
        settings,
        AlertingSettings(),
        group=f"scram-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path / "state",
    )
    sdf = app.dataframe(app.topic(source, value_deserializer="bytes"))
    sdf = sdf.apply(lambda value: value.upper()).to_topic(
        app.topic(target, value_serializer="bytes")
    )
    app.run(count=2, timeout=60)
    assert [m.value() for m in read_to_end(settings, target)] == [b"ONE", b"TWO"]
