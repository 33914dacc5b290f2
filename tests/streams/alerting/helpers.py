"""Running ``vigil alerts`` as a real subprocess against the test broker, feeding it
DetectionEvents and reading back what it published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from schemas.contracts import serde_for
from vigil import kafka
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings

VIGIL = str(Path(sys.executable).parent / "vigil")


def env_for(settings: VigilSettings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        VIGIL_TOPICS__PREFIX=settings.topics.prefix,
        VIGIL_TOPICS__DETECTIONS_PARTITIONS=str(settings.topics.detections_partitions),
        VIGIL_DATA_DIR=str(settings.data_dir),
        VIGIL_CACHE_DIR=str(settings.cache_dir),
        VIGIL_LOG_FORMAT="json",
    )
    env.update(extra)
    return env


class VigilProcess:
    """A ``vigil`` command in its own process group (so a kill reaches all of it); its output
    goes to a log file."""

    def __init__(
        self, args: list[str], settings: VigilSettings, log_path: Path, **env: str
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [VIGIL, *args],
            env=env_for(settings, **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group: no clean shutdown, no final commit."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM; the exit status (SIGKILL after ``timeout_s``)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


class AlertsProcess(VigilProcess):
    """``vigil alerts --rules FILE``."""

    def __init__(self, settings: VigilSettings, rules: Path, log_path: Path, **env: str) -> None:
        args = ["alerts", "--rules", str(rules), "--loglevel", "info"]
        super().__init__(args, settings, log_path, **env)


def prepare_topics(settings: VigilSettings) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))


def publish_detections(settings: VigilSettings, events: list[dict[str, Any]]) -> None:
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)
    prod = kafka.producer(settings)
    for ev in events:
        kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
    if prod.flush(30) > 0:
        raise TimeoutError("detections not acknowledged")


def publish_raw(settings: VigilSettings, key: str, value: bytes) -> None:
    prod = kafka.producer(settings)
    kafka.produce(prod, Topic.DETECTIONS.name_in(settings.topics), value, key=key)
    prod.flush(30)


def read_topic(
    settings: VigilSettings,
    role: Topic,
    *,
    decode: bool = True,
    idle_s: float = 1.0,
    timeout_s: float = 10.0,
    want: int | None = None,
    proc: AlertsProcess | None = None,
) -> list[Any]:
    """Everything committed on the topic: records (decoded) or messages; stops after ``want``
    records, or once nothing new arrived for ``idle_s`` after the end, or at ``timeout_s``."""
    topic = role.name_in(settings.topics)
    cons = kafka.consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
    serde = serde_for(settings, role) if decode else None
    try:
        parts = kafka.end_offsets(cons, topic)
        cons.assign([TopicPartition(topic, tp.partition, 0) for tp in parts])
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        last = time.monotonic()
        while time.monotonic() < deadline:
            if want is not None and len(out) >= want:
                break
            msg = cons.poll(0.2)
            if proc is not None and proc.proc.poll() is not None:
                raise RuntimeError(f"vigil alerts exited: {proc.log_text()[-3000:]}")
            if msg is None:
                if want is None and time.monotonic() - last > idle_s:
                    break
                continue
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(str(err))
                continue
            last = time.monotonic()
            out.append(serde.decode(msg) if serde is not None else msg)
        return out
    finally:
        cons.close()


def committed(settings: VigilSettings, group: str, role: Topic = Topic.DETECTIONS) -> int:
    """Sum of the group's committed offsets on the topic (0 for partitions without one)."""
    topic = role.name_in(settings.topics)
    cons = kafka.consumer(settings, group)
    try:
        parts = kafka.end_offsets(cons, topic)
        got = cons.committed([TopicPartition(topic, tp.partition) for tp in parts], timeout=10)
        return sum(max(0, tp.offset) for tp in got)
    finally:
        cons.close()


def wait_committed(
    settings: VigilSettings,
    group: str,
    total: int,
    timeout_s: float,
    role: Topic = Topic.DETECTIONS,
    proc: AlertsProcess | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if committed(settings, group, role) >= total:
            return
        if proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"vigil alerts exited: {proc.log_text()[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"group {group} did not commit {total} offsets in {timeout_s:.0f}s")


def wait_members(settings: VigilSettings, group: str, members: int, timeout_s: float) -> None:
    """Until the consumer group is stable with ``members`` members, each holding partitions."""
    client = kafka.admin(settings)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            desc: Any = client.describe_consumer_groups([group])[group].result(10)
        except KafkaException:
            desc = None
        if desc is not None and str(desc.state).endswith("STABLE"):
            holding = [m for m in desc.members if m.assignment.topic_partitions]
            if len(holding) == members:
                return
        time.sleep(0.5)
    raise TimeoutError(f"group {group} did not reach {members} members in {timeout_s:.0f}s")


class PacedPublisher:
    """Publishes detection events in order at about ``per_s`` a second from a thread, as live
    cameras do, so that processes can be killed while the stream is still flowing."""

    def __init__(self, settings: VigilSettings, events: list[dict[str, Any]], per_s: float):
        self.settings = settings
        self.events = events
        self.per_s = per_s
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-publisher", daemon=True)

    def start(self) -> PacedPublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        topic = Topic.DETECTIONS.name_in(self.settings.topics)
        serde = serde_for(self.settings, Topic.DETECTIONS)
        prod = kafka.producer(self.settings)
        started = time.monotonic()
        try:
            for i, ev in enumerate(self.events):
                if self._stop.is_set():
                    return
                ahead = started + i / self.per_s - time.monotonic()
                if ahead > 0:
                    prod.flush(ahead)
                    self._stop.wait(max(0.0, started + i / self.per_s - time.monotonic()))
                kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
                self.sent = i + 1
            if prod.flush(30) > 0:
                raise TimeoutError("detections not acknowledged")
        except BaseException as exc:
            self.error = exc
            raise

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"published {self.sent} of {len(self.events)} in {timeout_s} s")
        if self.error is not None:
            raise RuntimeError("publishing failed") from self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
