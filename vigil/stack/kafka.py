"""A real Apache Kafka 4.x node (KRaft, broker and controller in one JVM) on loopback, built
from jars that Maven fetches from Maven Central once into the cache: the single-node stack, or
one member of a cluster (vigil/stack/cluster.py)."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from vigil.stack.process import ServerProcess, ServerStatus, StackError, wait_for

POM = Path(__file__).with_name("kafka-pom.xml")
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"

LOG4J2 = """\
status=warn
appender.out.type=Console
appender.out.name=STDOUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.out.ref=STDOUT
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.state.name=state.change.logger
logger.state.level=WARN
"""


def fetch_kafka_jars(cache_dir: Path, version: str) -> Path:
    """Fetch the broker's jars with Maven into ``<cache>/kafka/<version>/libs`` once."""
    libs = cache_dir / "kafka" / version / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is not installed; it fetches Kafka's jars: apt-get install maven"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    cmd = [
        mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={staging}", f"-Dkafka.version={version}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    jar = staging / f"kafka_2.13-{version}.jar"
    if done.returncode != 0 or not jar.exists():
        shutil.rmtree(staging, ignore_errors=True)
        out = (done.stdout + done.stderr).strip()[-2000:]
        raise StackError(f"Maven could not fetch Apache Kafka {version} from Maven Central:\n{out}")
    (staging / ".complete").write_text(version)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class KafkaBroker:
    home: Path
    cache_dir: Path
    version: str = "4.3.1"
    port: int = 19092
    controller_port: int = 19093
    heap_mb: int = 512
    # how often the broker deletes segments past retention (Kafka's default: 5 min) and how long
    # an idle log cleaner waits (15 s); tests of retention and erasure make them short
    retention_check_ms: int = 300_000
    cleaner_backoff_ms: int = 15_000
    # a member of a cluster (vigil/stack/cluster.py): its id, the static controller quorum
    # ("1@127.0.0.1:19093,2@..."), the cluster's id, and the internal topics' replication
    node_id: int = 1
    voters: str = ""
    cluster_id: str = ""
    replication: int = 1
    min_isr: int = 1

    @property
    def process(self) -> ServerProcess:
        return ServerProcess(self.home)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **(
                {"controller.quorum.voters": self.voters}
                if self.voters
                else {"controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}"}
            ),
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": str(self.replication),
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": str(self.replication),
            "transaction.state.log.min.isr": str(self.min_isr),
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": str(self.replication),
            "share.coordinator.state.topic.min.isr": str(self.min_isr),
            "default.replication.factor": str(self.replication),
            "min.insync.replicas": str(self.min_isr),
            "group.initial.rebalance.delay.ms": "0",
            # a crashed stream-app instance's open transaction holds back read_committed
            # readers until it times out; look for timed-out ones every second, not every 10
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "auto.create.topics.enable": "false",
            "message.max.bytes": str(8 * 1024 * 1024),
            "log.retention.check.interval.ms": str(self.retention_check_ms),
            "log.cleaner.backoff.ms": str(self.cleaner_backoff_ms),
        }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.properties").write_text(LOG4J2)

    def java_command(self, libs: Path, *args: str) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise StackError("Java (>= 17) is not installed: apt-get install default-jre-headless")
        return [
            java,
            f"-Xms{min(128, self.heap_mb)}m",
            f"-Xmx{self.heap_mb}m",
            "-XX:MaxDirectMemorySize=128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            *args,
        ]

    def _format_storage(self, libs: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id = self.cluster_id or new_cluster_id()
        quorum = [] if self.voters else ["--standalone"]  # a static quorum needs no flag
        cmd = self.java_command(
            libs, STORAGE_TOOL, "format", *quorum,
            f"--cluster-id={cluster_id}", "-c", str(self.config_file),  # an id may start with "-"
        )  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")
        self.process.write_state(cluster_id=cluster_id)

    def start(self, *, fresh: bool = False, timeout_s: float = 90.0) -> bool:
        """Start the broker unless ours is running; True if it was started now."""
        if self.process.pid() is not None and not fresh:
            return False
        if fresh:
            self.stop()
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.process.state_file.unlink(missing_ok=True)
        for port in (self.port, self.controller_port):
            if _port_open(port):
                raise StackError(
                    f"port {port} is taken by another process; choose other ports with "
                    "VIGIL_STACK__KAFKA_PORT / VIGIL_STACK__KAFKA_CONTROLLER_PORT"
                )
        began = self.spawn(fetch_kafka_jars(self.cache_dir, self.version))
        # log_level 2: no "connection refused" noise while the broker is still starting
        client = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 2})
        try:
            wait_for(lambda: self._ready(client), timeout_s, self.process, "Kafka broker")
        except Exception:
            self.stop()
            raise
        self.started(began)
        return True

    def spawn(self, libs: Path) -> float:
        """Write the config, format the storage once, start the JVM; when it was started."""
        self._write_config()
        (self.home / "tmp").mkdir(exist_ok=True)
        self._format_storage(libs)
        began = time.monotonic()
        self.process.spawn(self.java_command(libs, MAIN_CLASS, str(self.config_file)))
        return began

    def started(self, began: float) -> None:
        self.process.write_state(
            startup_s=round(time.monotonic() - began, 3),
            version=self.version,
            bootstrap=self.bootstrap,
        )

    @staticmethod
    def _ready(client: AdminClient) -> bool:
        try:
            return bool(client.list_topics(timeout=1.0).brokers)
        except KafkaException:
            return False

    def stop(self, timeout_s: float = 30.0) -> bool:
        return self.process.stop(timeout_s)

    def status(self) -> ServerStatus:
        pid = self.process.pid()
        state = self.process.read_state()
        return ServerStatus(
            name=f"Apache Kafka {state.get('version', self.version)} (KRaft)"
            + (f" node {self.node_id}" if self.voters else ""),
            running=pid is not None,
            pid=pid,
            address=self.bootstrap,
            startup_s=state.get("startup_s"),
            rss_bytes=self.process.rss_bytes(),
            log_file=self.process.log_file,
            detail=f"data {self.data_dir}",
        )
