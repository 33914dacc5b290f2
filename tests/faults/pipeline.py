"""The whole pipeline as real ``vigil`` processes on a replicated Kafka cluster and a ClickHouse
server, for the fault suite (``tests/faults/test_faults.py``) and the soak
(``python -m tests.faults.soak``): looping file cameras and an uploader feed ``vigil ingest``
and ``vigil api``; two ``vigil worker``s, ``vigil sink clickhouse``, ``vigil alerts``,
``vigil drift`` and ``vigil deliver`` (log and a webhook) run as production runs them, each
restarted by a supervisor when it exits (as compose's ``restart:`` or systemd would), and the
restarts are counted.

The checker reads every topic ``read_committed`` from its start and knows every frame id its
producers were told was accepted (the uploads' 202 answers; the cameras' acknowledged counts).
At a checkpoint, each stage is held to what its consumer group has committed: every upstream
record below the group's committed offset must be downstream exactly once (the worker, the
stream apps and the sink commit their offsets in the same transaction as their output, or
after it). After :meth:`Pipeline.drain`, everything must have arrived, and the alerts must be
the ones an uninterrupted run of the alerting engine over the same detections raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.contracts import serde_for
from streams.alerting.delivery import lane_id
from tests.faults import checker
from tests.faults.checker import Report
from tests.streams.alerting.webhook_server import Endpoint
from vigil import follow, kafka
from vigil.clickhouse import ServerClickHouse
from vigil.dlq import read_envelope
from vigil.settings import KafkaSettings, TopicSettings
from vigil.stack import ClickHouseServer, KafkaCluster
from vigil.testing import VigilProcess, bikes_jpegs, bikes_mp4, free_port, unique_prefix
from vigil.testing.processes import process_env, vigil_command
from vigil.testing.waits import wait_until
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

log = logging.getLogger(__name__)

INGEST_KEY = "faults-ingest-key-0123456789"
WEBHOOK_SECRET = b"faults"
RULES = """
rules:
  - id: faults-road
    labels: [person, bicycle]
    min_score: 0.4
    quiet_s: 1
destinations:
  log: true
  webhooks:
    - {{url: '{url}', secret: faults, retries: 100000, backoff_s: 0.2, timeout_s: 5}}
"""
UPLOAD_INLINE_BYTES = 16 * 1024  # the uploads (640x360 JPEGs) go by claim check, to the blob dir


@dataclass
class Component:
    """One ``vigil`` process of the pipeline and the consumer groups it commits, with the topic
    each reads."""

    name: str
    args: list[str]
    env: dict[str, str]
    groups: dict[str, list[Topic]] = field(default_factory=dict)
    proc: VigilProcess | None = None
    restarts: int = 0
    exits: list[int | None] = field(default_factory=list)  # the exit status of each restart
    held: bool = False  # down on purpose: the supervisor leaves it

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()


@dataclass(frozen=True)
class Upload:
    at: float  # time.monotonic() when answered
    status: int  # 0: no answer (connection refused, timeout)
    frame_id: str | None
    error: str | None


def rss_of(pid: int) -> int:
    """Resident memory of a process and all its children (a ``vigil`` command's group)."""
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


class Pipeline:
    """Every ``vigil`` process of the flow on ``cluster`` and ``clickhouse``, under ``home``."""

    def __init__(
        self,
        home: Path,
        cluster: KafkaCluster,
        clickhouse: ClickHouseServer,
        *,
        cameras: int = 1,
        fps: float = 5.0,
        uploads_per_s: float = 2.0,
        blob_dir: Path | None = None,
        workers: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.cluster = cluster
        self.clickhouse = clickhouse
        self.fps = fps
        self.uploads_per_s = uploads_per_s
        self.blob_dir = blob_dir or home / "blobs"
        prefix = unique_prefix("f")
        self.settings = VigilSettings(
            kafka=KafkaSettings(bootstrap_servers=cluster.bootstrap),
            topics=TopicSettings(prefix=prefix),
            data_dir=home / "data",
            cache_dir=VigilSettings().cache_dir,
        )
        self.database = f"faults_{prefix}"
        self.webhook = Endpoint("ok", WEBHOOK_SECRET)
        self.rules = home / "rules.yaml"
        self.rules.write_text(RULES.format(url=self.webhook.url))
        self.cameras_file = home / "cameras.yaml"
        self.camera_ids = [f"cam-{i}" for i in range(cameras)]
        self.cameras_file.write_text(
            json.dumps(
                {
                    "cameras": [
                        {
                            "id": cam,
                            "path": str(bikes_mp4()),
                            "loop": True,
                            "realtime": True,
                            "fps": fps,
                            "max_width": 320,
                            "max_height": 240,
                        }
                        for cam in self.camera_ids
                    ]
                }
            )
        )
        self.api_port = free_port()
        self.worker_group = f"{prefix}-workers"
        self.sink_group = f"{prefix}-clickhouse-sink"
        common = {
            "VIGIL_TOPICS__FRAMES_PARTITIONS": str(self.settings.topics.frames_partitions),
            "VIGIL_CLICKHOUSE__URL": clickhouse.url,
            "VIGIL_CLICKHOUSE__DATABASE": self.database,
            "VIGIL_INGEST__BLOB_DIR": str(self.blob_dir),
            "VIGIL_WORKER__GROUP_ID": self.worker_group,
            "VIGIL_WORKER__SESSION_TIMEOUT_MS": "6000",
            "VIGIL_WORKER__DECODE_THREADS": "1",
            "VIGIL_MODELS__THREADS": "1",
            "VIGIL_CLICKHOUSE_SINK__GROUP_ID": self.sink_group,
            "VIGIL_CLICKHOUSE_SINK__SESSION_TIMEOUT_MS": "10000",
            "VIGIL_ALERTING__DELIVER": "false",  # `vigil deliver` is its own component here
            "VIGIL_ACCESS__INGEST_KEYS": json.dumps([INGEST_KEY]),
            "VIGIL_LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.env = common
        p = self.settings.topics.prefix
        deliver_group = f"{p}-alert-delivery"
        comps = [
            Component(
                "api",
                ["api", "--port", str(self.api_port)],
                {**common, "VIGIL_INGEST__INLINE_IMAGE_BYTES": str(UPLOAD_INLINE_BYTES)},
            ),
            Component("ingest", ["ingest", "--cameras", str(self.cameras_file)], common),
            *[
                Component(
                    f"worker-{i}",
                    ["worker", "--instance", f"{p}-w{i}"],
                    common,
                    {self.worker_group: [Topic.FRAMES]},
                )
                for i in range(1, workers + 1)
            ],
            Component(
                "sink",
                ["sink", "clickhouse"],
                common,
                {self.sink_group: [Topic.DETECTIONS, Topic.ALERTS, Topic.DRIFT]},
            ),
            Component(
                "alerting",
                ["alerts", "--rules", str(self.rules), "--loglevel", "INFO"],
                common,
                {f"{p}-alerting": [Topic.DETECTIONS]},
            ),
            Component("drift", ["drift"], common, {f"{p}-drift": [Topic.DETECTIONS]}),
            Component(
                "delivery",
                ["deliver", "--rules", str(self.rules)],
                common,
                {
                    deliver_group: [Topic.ALERTS],
                    f"{deliver_group}-{lane_id(self.webhook.url)}": [Topic.ALERTS],
                },
            ),
        ]
        self.components = {c.name: c for c in comps}
        self.uploads: list[Upload] = []
        self._images = bikes_jpegs(12, (640, 360), step=7)
        self._stop = threading.Event()
        self._uploading = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.events: list[str] = []  # restarts and faults, with times, for the report

    # -- running ---------------------------------------------------------------------------

    def logs(self) -> Path:
        path = self.home / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self, timeout_s: float = 180.0) -> None:
        subprocess.run(
            vigil_command("topics", "ensure"),
            env=process_env(self.settings, **self.env),
            check=True,
            capture_output=True,
            timeout=120,
        )
        for comp in self.components.values():
            self.spawn(comp)
        url = f"http://127.0.0.1:{self.api_port}/v1/health"

        def healthy() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout_s, f"vigil api ({self.logs() / 'api.log'})")
        for target, name in ((self._supervise, "supervisor"), (self._upload, "uploader")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._uploading.set()
        # the first detections reached ClickHouse: every process is up and through its start
        wait_until(lambda: self.clickhouse_count("frames") > 0, timeout_s, "first rows")

    def spawn(self, comp: Component) -> None:
        comp.proc = VigilProcess(
            comp.args, self.settings, self.logs() / f"{comp.name}.log", **comp.env
        )
        comp.held = False

    def note(self, text: str) -> None:
        with self._lock:
            self.events.append(f"{time.strftime('%H:%M:%S')} {text}")
        log.info("%s", text)

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for comp in self.components.values():
                if comp.held or comp.alive():
                    continue
                code = comp.proc.proc.returncode if comp.proc else None
                comp.restarts += 1
                comp.exits.append(code)
                self.note(f"{comp.name} exited ({code}): restarted")
                self.spawn(comp)

    def _upload(self) -> None:
        url = f"http://127.0.0.1:{self.api_port}/v1/frames"
        with httpx.Client(timeout=35) as client:
            i = 0
            while not self._stop.is_set():
                if not self._uploading.wait(0.5):
                    continue
                image = self._images[i % len(self._images)]
                cam = f"up-{i % 2}"
                i += 1
                try:
                    r = client.post(
                        url,
                        params={"camera_id": cam},
                        content=image,
                        headers={"X-API-Key": INGEST_KEY},
                    )
                    body = r.json() if r.headers.get("content-type", "").startswith("app") else {}
                    got = Upload(
                        time.monotonic(),
                        r.status_code,
                        body.get("frame_id") if r.status_code == 202 else None,
                        None if r.status_code == 202 else str(body.get("error", r.text[:80])),
                    )
                except httpx.HTTPError as exc:
                    got = Upload(time.monotonic(), 0, None, type(exc).__name__)
                with self._lock:
                    self.uploads.append(got)
                self._stop.wait(1.0 / self.uploads_per_s)

    def hold(self, name: str) -> Component:
        """Stop the supervisor from restarting ``name`` (a fault takes it down)."""
        comp = self.components[name]
        comp.held = True
        return comp

    def release(self, name: str) -> None:
        comp = self.components[name]
        if not comp.alive():
            self.spawn(comp)
        comp.held = False

    def drain(self, timeout_s: float = 300.0) -> None:
        """Stop the sources (uploader, then ``vigil ingest`` with SIGTERM: its last frames are
        flushed and its status written), then wait until every group has committed to the end
        of its input topics."""
        self._uploading.clear()
        time.sleep(1.5)  # an upload in flight is answered
        ingest = self.hold("ingest")
        assert ingest.proc is not None
        code = ingest.proc.stop(60)
        self.note(f"ingest stopped for the drain ({code})")
        time.sleep(2)  # the last transactions of the stages commit
        for _ in range(6):  # each stage's output feeds the next: until nothing moves
            ends = self.data_ends()
            late = self.wait_caught_up(ends, timeout_s)
            if any(v is None for v in late.values()):
                raise TimeoutError(f"not drained in {timeout_s:.0f} s: {late}")
            if self.data_ends() == ends:
                return
        raise TimeoutError("the pipeline kept producing after its sources stopped")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(40)
        for comp in self.components.values():
            comp.held = True
        running = [c.proc for c in self.components.values() if c.proc is not None and c.alive()]
        for proc in running:  # SIGTERM to all at once, then 60 s for all of them together
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in running:
            proc.stop(max(1.0, deadline - time.monotonic()))  # SIGKILL for what is left
        self.webhook.close()

    # -- offsets ---------------------------------------------------------------------------

    def topic(self, role: Topic) -> str:
        return role.name_in(self.settings.topics)

    @contextmanager
    def _consumer(self, group: str) -> Iterator[Consumer]:
        cons = kafka.consumer(self.settings, group)
        try:
            yield cons
        finally:
            cons.close()

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """The high watermark of every partition of every topic the groups read, now."""
        out: dict[tuple[str, int], int] = {}
        with self._consumer(f"faults-ends-{uuid.uuid4().hex[:6]}") as cons:
            for role in (Topic.FRAMES, Topic.DETECTIONS, Topic.ALERTS, Topic.DRIFT):
                for tp in kafka.end_offsets(cons, self.topic(role)):
                    out[(tp.topic, tp.partition)] = tp.offset
        return out

    def data_ends(self, back: int = 64) -> dict[tuple[str, int], int]:
        """:meth:`_data_ends`, retried while a broker is down (its client handle destroyed)."""
        deadline = time.monotonic() + 120
        while True:
            try:
                return self._data_ends(back)
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def _data_ends(self, back: int) -> dict[tuple[str, int], int]:
        """Per partition of the groups' topics, one past its last committed record: where a
        group's commit stands once it has processed everything (the high watermark may lie
        past transaction markers and aborted records, which a stream app never commits
        beyond until a record follows them)."""
        ends = self.end_offsets()
        out: dict[tuple[str, int], int] = {}
        cons = kafka.consumer(
            self.settings, f"faults-ends-{uuid.uuid4().hex[:6]}", **{"enable.partition.eof": True}
        )
        try:
            for (topic, part), high in ends.items():
                low = cons.get_watermark_offsets(TopicPartition(topic, part), 10)[0]
                start, last, window = high, None, back
                while last is None and start > low:
                    start = max(low, start - window)
                    cons.assign([TopicPartition(topic, part, start)])
                    while True:  # to the snapshot's end: EOF, or a record at or past it
                        msg = cons.poll(10.0)
                        if msg is None:
                            raise TimeoutError(f"{topic}[{part}]: nothing read from {start}")
                        if msg.error():
                            break  # EOF
                        offset = int(msg.offset() or 0)
                        if offset >= high:
                            break
                        last = offset
                        if offset == high - 1:
                            break
                    window *= 8
                out[(topic, part)] = low if last is None else last + 1
        finally:
            cons.close()
        return out

    def committed(self, group: str, roles: list[Topic]) -> dict[tuple[str, int], int]:
        with self._consumer(group) as cons:
            parts = [
                TopicPartition(tp.topic, tp.partition)
                for role in roles
                for tp in kafka.end_offsets(cons, self.topic(role))
            ]
            got = cons.committed(parts, timeout=20)
        return {(tp.topic, tp.partition): max(0, tp.offset) for tp in got}

    def groups(self) -> dict[str, tuple[str, list[Topic]]]:
        """Each consumer group: (its component, the topics it reads)."""
        return {
            group: (comp.name.split("-")[0], roles)
            for comp in self.components.values()
            for group, roles in comp.groups.items()
        }

    def wait_caught_up(
        self, ends: dict[tuple[str, int], int], timeout_s: float, since: float | None = None
    ) -> dict[str, float | None]:
        """Per component: seconds from ``since`` until each of its groups committed past
        ``ends`` on every partition it reads (None: not within ``timeout_s``)."""
        start = since if since is not None else time.monotonic()
        left = dict(self.groups())
        took: dict[str, float | None] = {}
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            for group, (comp, roles) in list(left.items()):
                done = self.committed(group, roles)
                if all(off >= ends[key] for key, off in done.items() if key in ends):
                    took[comp] = max(took.get(comp) or 0.0, time.monotonic() - start)
                    del left[group]
            if left:
                time.sleep(0.5)
        for comp, _roles in left.values():
            took[comp] = None
        return took

    # -- reading ---------------------------------------------------------------------------

    def read(self, role: Topic) -> list[tuple[int, int, Any]]:
        """Every committed record of the topic: (partition, offset, decoded value)."""
        serde = serde_for(self.settings, role) if role is not Topic.DLQ else None
        out: list[tuple[int, int, Any]] = []

        def keep(msg: Message) -> None:
            value = serde.decode(msg) if serde is not None else read_envelope(msg)
            out.append((int(msg.partition() or 0), int(msg.offset() or 0), value))

        follow.read_to_end(
            self.settings, self.topic(role), keep, name="faults-checker", timeout_s=180
        )
        return out

    def clickhouse_ids(self, table: str, column: str) -> Counter[str]:
        client = ServerClickHouse(self.clickhouse.url)
        try:
            rows = client.query(
                f"SELECT {column}, count() FROM {self.database}.{table} GROUP BY {column}"
            )
        finally:
            client.close()
        return Counter({str(k): int(n) for k, n in rows})

    def clickhouse_count(self, table: str) -> int:
        try:
            client = ServerClickHouse(self.clickhouse.url)
            try:
                return int(client.query(f"SELECT count() FROM {self.database}.{table}")[0][0])
            finally:
                client.close()
        except Exception:  # not migrated yet, or the server is down
            return 0

    def camera_status(self) -> dict[str, dict[str, int]]:
        path = self.settings.data_dir / "ingest" / "status.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        keys = ("frames_acknowledged", "frames_failed", "frames_dropped")
        return {c["id"]: {k: int(c.get(k) or 0) for k in keys} for c in data["cameras"]}

    def check(self, *, final: bool = False) -> Report:
        """:func:`tests.faults.checker.check` of this pipeline."""
        return checker.check(self, final=final)

    def rss(self) -> dict[str, int]:
        """Resident memory per component (with its children), and per Kafka node."""
        out = {
            name: rss_of(c.proc.proc.pid)
            for name, c in self.components.items()
            if c.proc is not None and c.alive()
        }
        for node in self.cluster.nodes:
            pid = node.process.pid()
            if pid is not None:
                out[f"kafka-{node.node_id}"] = rss_of(pid)
        pid = self.clickhouse.process.pid()
        if pid is not None:
            out["clickhouse"] = rss_of(pid)
        return out
