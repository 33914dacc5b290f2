"""The local replicated cluster, as users run it: ``vigil stack up --brokers 3`` starts three
KRaft nodes as one cluster and ``stack status`` shows each; ``vigil topics ensure`` gives
Vigil's topics replication 3 and min.insync.replicas 2; with one node SIGKILLed, transactional
acks=all writes go on and a read_committed reader sees every record once; the node rejoins on
``stack up``; ``stack down`` stops them all."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import ConfigResource, ResourceType
from typer.testing import CliRunner

from vigil import kafka
from vigil.settings import CoreSettings
from vigil.stack import KafkaCluster, Stack
from vigil.testing import read_to_end, wait_until
from vigil.testing.servers import free_port_range
from vigil.topics import Topic
from vigil_app.cli import app
from vigil_app.settings import load_settings


def _write(settings: CoreSettings, topic: str, values: list[bytes]) -> None:
    producer = kafka.transactional_producer(settings, f"t-{uuid.uuid4().hex[:8]}")
    producer.begin_transaction()
    for v in values:
        kafka.produce(producer, topic, v, key=v[:4])
    producer.commit_transaction(60)


def test_three_nodes_replicate_and_survive_one_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_range(6)
    env = {
        "VIGIL_DATA_DIR": str(tmp_path / "data"),
        "VIGIL_STACK__KAFKA_PORT": str(base),
        "VIGIL_STACK__KAFKA_CONTROLLER_PORT": str(base + 1),
        "VIGIL_STACK__START_TIMEOUT_S": "240",
        "VIGIL_TOPICS__PREFIX": f"c{uuid.uuid4().hex[:6]}",
        "COLUMNS": "200",
    }
    bootstrap = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
    env["VIGIL_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    runner = CliRunner()

    def vigil(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    up = vigil("stack", "up", "--brokers", "3")
    assert f"kafka: started at {bootstrap}" in up
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    cluster = Stack.from_settings(settings, 3).kafka
    assert isinstance(cluster, KafkaCluster)
    try:
        status = vigil("stack", "status")
        assert [n for n in (1, 2, 3) if f"(KRaft) node {n}" in status] == [1, 2, 3]
        assert status.count("running") == 3

        vigil("topics", "ensure")
        admin = kafka.admin(settings)
        assert len(admin.list_topics(timeout=10).brokers) == 3
        frames = Topic.FRAMES.name_in(settings.topics)
        meta = admin.list_topics(timeout=10).topics[frames]
        assert {len(p.replicas) for p in meta.partitions.values()} == {3}
        [conf] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, frames)]).values()
        assert conf.result(30)["min.insync.replicas"].value == "2"

        first = [b"one-%d" % i for i in range(50)]
        _write(settings, frames, first)
        victim = cluster.node(2)
        pid = victim.process.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: victim.process.pid() is None, 30, "node 2 gone")
        second = [b"two-%d" % i for i in range(50)]
        _write(settings, frames, second)  # 2 of 3 in sync: acks=all and min ISR 2 hold
        got = read_to_end(settings, frames)
        assert sorted(m.value() or b"" for m in got) == sorted(first + second)

        again = vigil("stack", "up", "--brokers", "3")  # node 2 alone: it rejoins
        assert "started" in again
        assert all(s.running for s in cluster.statuses())
    finally:
        down = vigil("stack", "down")
        assert "kafka" in down
    assert not any(s.running for s in cluster.statuses())
