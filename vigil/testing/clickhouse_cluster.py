"""A replicated ClickHouse cluster on loopback: one ZooKeeper (Debian's ``zookeeper`` package;
the ClickHouse 18.16 that Debian ships predates ClickHouse Keeper) and one shard of ClickHouse
server replicas, each with ``<macros>`` (shard, replica), the ``remote_servers`` cluster and
the ``<zookeeper>`` it replicates through, on free ports under one directory."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from vigil.stack import ClickHouseServer
from vigil.stack.process import ServerProcess, wait_for
from vigil.testing.servers import free_port

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")  # Debian's zookeeper package

# config.d/ beside a server's config.xml is merged into it by every ClickHouse release
REPLICA_CONFIG = """\
<?xml version="1.0"?>
<yandex>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <interserver_http_port>{interserver_port}</interserver_http_port>
  <zookeeper><node><host>127.0.0.1</host><port>{zookeeper_port}</port></node></zookeeper>
  <macros><shard>01</shard><replica>{replica}</replica></macros>
  <remote_servers><{cluster}><shard><internal_replication>true</internal_replication>
    {replicas}
  </shard></{cluster}></remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
</yandex>
"""


def find_zookeeper() -> list[str] | None:
    """The command that runs a standalone ZooKeeper (``+ [config file]``), or None."""
    java = shutil.which("java")
    if java is None or not ZOOKEEPER_JAR.is_file():
        return None
    return [
        java,
        "-Xmx256m",
        "-cp",
        str(ZOOKEEPER_JAR),
        "org.apache.zookeeper.server.ZooKeeperServerMain",
    ]


@dataclass(frozen=True)
class ZooKeeper:
    home: Path
    port: int

    @property
    def process(self) -> ServerProcess:
        return ServerProcess(self.home)

    def start(self, timeout_s: float = 60.0) -> None:
        command = find_zookeeper()
        if command is None:
            raise RuntimeError("no ZooKeeper: apt-get install zookeeper (and a JRE)")
        config = self.home / "zoo.cfg"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f"tickTime=500\ndataDir={self.home / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n"
            "4lw.commands.whitelist=srvr\n"
        )
        self.process.spawn([*command, str(config)])
        try:
            wait_for(self._ready, timeout_s, self.process, "ZooKeeper")
        except Exception:
            self.stop()
            raise

    def _ready(self) -> bool:
        """Serving requests (``ruok`` says imok before that, and ClickHouse 18.16 crashes on a
        ZooKeeper that drops its handshake)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"srvr")
                reply = b""
                while chunk := sock.recv(4096):
                    reply += chunk
                return b"Mode: standalone" in reply
        except OSError:
            return False

    def stop(self, timeout_s: float = 20.0) -> bool:
        return self.process.stop(timeout_s)


@dataclass(frozen=True)
class ReplicatedClickHouse:
    """One shard of ``len(servers)`` replicas in cluster ``cluster``."""

    cluster: str
    zookeeper: ZooKeeper
    servers: tuple[ClickHouseServer, ...]


@contextmanager
def clickhouse_cluster(
    home: Path, replicas: int = 2, cluster: str = "vigil_test", timeout_s: float = 60.0
) -> Iterator[ReplicatedClickHouse]:
    """ZooKeeper and ``replicas`` ClickHouse servers under ``home``, all stopped after.
    ``find_zookeeper()`` and ``vigil.stack.find_server_binary()`` say whether they can run."""
    with ExitStack() as stack:
        zookeeper = ZooKeeper(home / "zookeeper", free_port())
        zookeeper.start(timeout_s)
        stack.callback(zookeeper.stop)
        servers = [
            ClickHouseServer(
                home=home / f"replica{i + 1}", tcp_port=free_port(), http_port=free_port()
            )
            for i in range(replicas)
        ]
        members = "\n    ".join(
            f"<replica><host>127.0.0.1</host><port>{s.tcp_port}</port></replica>" for s in servers
        )
        for i, server in enumerate(servers):
            extra = server.home / "config.d"
            extra.mkdir(parents=True, exist_ok=True)
            (extra / "cluster.xml").write_text(
                REPLICA_CONFIG.format(
                    interserver_port=free_port(),
                    zookeeper_port=zookeeper.port,
                    replica=f"r{i + 1}",
                    cluster=cluster,
                    replicas=members,
                )
            )
            server.start(timeout_s=timeout_s)
            stack.callback(server.stop)
        yield ReplicatedClickHouse(cluster, zookeeper, tuple(servers))
