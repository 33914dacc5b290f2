"""A local replicated Apache Kafka cluster: ``brokers`` KRaft nodes on loopback, each broker and
controller in one JVM, with a static controller quorum of all of them.

Why combined nodes rather than a separate controller quorum plus three brokers: on one machine
the cluster is there to test faults, and with three combined nodes any one of them can be
killed, hung or restarted while the other two keep both the controller quorum (2 of 3) and
every partition's ISR at ``min.insync.replicas=2``: the same failure budget as a production
cluster of three brokers, with three JVMs instead of six. The internal topics (consumer
offsets, transaction state) have replication 3 and min ISR 2; ``vigil topics ensure`` gives
Vigil's topics the same (vigil/topics.py).

Node ``i`` (from 1) listens on ``port + 2(i-1)`` and its controller on
``controller_port + 2(i-1)``; its data is under ``<home>/node<i>``."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from vigil.stack.kafka import KafkaBroker, fetch_kafka_jars, new_cluster_id
from vigil.stack.process import ServerStatus, StackError

CLUSTER_ID_FILE = "cluster.id"


@dataclass(frozen=True)
class KafkaCluster:
    home: Path
    cache_dir: Path
    brokers: int = 3
    version: str = "4.3.1"
    port: int = 19092
    controller_port: int = 19093
    heap_mb: int = 512

    @property
    def cluster_id(self) -> str:
        """Made once and kept: every node's storage is formatted with it."""
        path = self.home / CLUSTER_ID_FILE
        if not path.is_file():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(new_cluster_id())
        return path.read_text().strip()

    @property
    def nodes(self) -> list[KafkaBroker]:
        ids = range(1, self.brokers + 1)
        voters = ",".join(f"{i}@127.0.0.1:{self.controller_port + 2 * (i - 1)}" for i in ids)
        cid = self.cluster_id
        return [
            KafkaBroker(
                home=self.home / f"node{i}",
                cache_dir=self.cache_dir,
                version=self.version,
                port=self.port + 2 * (i - 1),
                controller_port=self.controller_port + 2 * (i - 1),
                heap_mb=self.heap_mb,
                node_id=i,
                voters=voters,
                cluster_id=cid,
                replication=min(3, self.brokers),
                min_isr=2 if self.brokers >= 3 else 1,
            )
            for i in ids
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    def node(self, node_id: int) -> KafkaBroker:
        return self.nodes[node_id - 1]

    def start(self, *, fresh: bool = False, timeout_s: float = 180.0) -> bool:
        """Start the nodes not running (all at once: the quorum needs a majority); True if any
        was started now. Returns once every broker is registered with the cluster."""
        if fresh:
            self.stop()
            shutil.rmtree(self.home, ignore_errors=True)  # every node's data, the cluster id
        down = [n for n in self.nodes if n.process.pid() is None]
        if not down:
            return False
        libs = fetch_kafka_jars(self.cache_dir, self.version)
        began = {n.node_id: n.spawn(libs) for n in down}
        client = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 2})
        deadline = time.monotonic() + timeout_s
        while self.registered(client) < self.brokers:
            dead = [n.node_id for n in down if n.process.pid() is None]
            if dead or time.monotonic() > deadline:
                self.stop()
                why = f"nodes {dead} exited" if dead else f"not all up in {timeout_s:.0f} s"
                raise StackError(
                    f"the Kafka cluster did not start: {why}; logs: "
                    + ", ".join(str(n.process.log_file) for n in down)
                )
            time.sleep(0.5)
        for node in down:
            node.started(began[node.node_id])
        return True

    @staticmethod
    def registered(client: AdminClient) -> int:
        try:
            return len(client.list_topics(timeout=1.0).brokers)
        except KafkaException:
            return 0

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop every node; True if any was running."""
        return any([n.stop(timeout_s) for n in self.nodes])

    def statuses(self) -> list[ServerStatus]:
        return [n.status() for n in self.nodes]

    def status(self) -> ServerStatus:
        """The cluster as one line: running when every node is."""
        nodes = self.statuses()
        up = sum(1 for s in nodes if s.running)
        return ServerStatus(
            name=f"Apache Kafka {self.version} (KRaft) cluster",
            running=up == len(nodes),
            pid=None,
            address=self.bootstrap,
            startup_s=None,
            rss_bytes=sum(s.rss_bytes or 0 for s in nodes),
            log_file=self.home,
            detail=f"{up} of {len(nodes)} nodes running",
        )
