"""Test scaffolding shipped with the library (as bytewax ships ``testing.py``): Vigil's tests,
its benches and users' own tests start real servers and wait on them the same way. Nothing here
needs pytest; the fixtures in ``tests/conftest.py`` call these.

:func:`free_port`, :func:`kafka_broker` and :func:`clickhouse_server` start real servers on
free loopback ports; :func:`settings_for` points settings at a broker with a unique topic
prefix and :func:`new_topic` creates a uniquely named topic. :func:`child_env`,
:func:`vigil_command` and :func:`stop_process` run ``vigil`` commands as child processes
configured the way production configures them (``VIGIL_*`` variables).
:func:`wait_until` (raises at its deadline) and :func:`poll_until` (says whether the condition
held) are the one polling loop with a deadline.

Transaction doubles prove a consumer reads ``read_committed`` the way Vigil's own tests do.

:func:`write_aborted` puts records on a topic inside a transaction and aborts it, after making
sure every record reached the log (a record purged before it was sent would prove nothing);
:func:`write_committed` does the same with a commit. Both return where each record landed.
:func:`read_to_end` reads back every committed record of a topic, with no idle wait;
:func:`wait_settled` first waits for transactions still open on it (a killed writer's).
:func:`api_process` runs a real ``vigil api`` until its health check answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka.admin import NewTopic

from vigil import follow, kafka
from vigil.settings import CoreSettings, KafkaSettings, TopicSettings
from vigil.stack import ClickHouseServer, KafkaBroker
from vigil.topics import wait_for_leaders

T = TypeVar("T")
S = TypeVar("S", bound=CoreSettings)

Record = tuple[str | bytes | None, bytes | None]  # (key, value)


@dataclass(frozen=True)
class Landed:
    """Where one record of a transaction landed in the log."""

    key: str | bytes | None
    partition: int
    offset: int


def write_aborted(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Landed]:
    """Produce ``records`` in one transaction, flush them into the log, then abort it."""
    return _transaction(settings, topic, records, transactional_id, timeout_s, commit=False)


def write_committed(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Landed]:
    """Produce ``records`` in one transaction and commit it."""
    return _transaction(settings, topic, records, transactional_id, timeout_s, commit=True)


def _transaction(
    settings: CoreSettings,
    topic: str,
    records: Iterable[Record],
    transactional_id: str | None,
    timeout_s: float,
    *,
    commit: bool,
) -> list[Landed]:
    txn_id = transactional_id or f"vigil-testing-{uuid.uuid4().hex[:12]}"
    prod = kafka.transactional_producer(settings, txn_id)
    landed: list[Landed] = []
    errors: list[KafkaError] = []

    def done(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            landed.append(Landed(msg.key(), int(msg.partition() or 0), int(msg.offset() or 0)))

    prod.begin_transaction()
    sent = 0
    for key, value in records:
        kafka.produce(prod, topic, value, key=key, on_delivery=done, timeout_s=timeout_s)
        sent += 1
    left = prod.flush(timeout_s)
    if left or errors or len(landed) != sent:
        prod.abort_transaction(timeout_s)
        raise RuntimeError(
            f"transaction {txn_id} on {topic}: {sent} records, {len(landed)} in the log, "
            f"{left} unsent, errors {errors[:3]}"
        )
    if commit:
        prod.commit_transaction(timeout_s)
    else:
        prod.abort_transaction(timeout_s)
    return sorted(landed, key=lambda r: (r.partition, r.offset))


def read_to_end(
    settings: CoreSettings,
    topic: str,
    until: Callable[[list[Message]], bool] | None = None,
    timeout_s: float = 60.0,
) -> list[Message]:
    """Every committed record of ``topic`` from its start: read until ``until(records)`` holds
    (records another process is still writing), then on to the end offsets the topic has at
    that moment, so everything committed before ``until`` held is in the result. The end is
    a position, which moves past transaction markers and aborted records; there is no idle
    wait, so a test that asserts nothing more came is never slow nor flaky."""
    out: list[Message] = []
    follow.read_to_end(
        settings,
        topic,
        out.append,
        until=None if until is None else lambda: until(out),
        name="vigil-testing-reader",
        timeout_s=timeout_s,
    )
    return out


def read_uncommitted(settings: CoreSettings, group: str) -> Consumer:
    """A consumer that sees aborted and still-open transactions' records too. ``kafka.consumer``
    refuses to build one, so this is a bare confluent-kafka consumer: for tests that prove the
    records are there, or that find the window between a send and its commit."""
    return Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": group,
            "isolation.level": "read_uncommitted",
            "enable.auto.commit": False,
        }
    )


def wait_settled(settings: CoreSettings, topic: str, timeout_s: float = 60.0) -> None:
    """Until no transaction is open on ``topic``: its last stable offset (what a
    ``read_committed`` reader can reach, and what :func:`read_to_end` takes as the end) equals
    its high watermark on every partition. A process killed mid-transaction leaves one open
    until the broker aborts it after ``transaction.timeout.ms``."""
    group = f"vigil-testing-{uuid.uuid4().hex}"
    stable = kafka.consumer(settings, group)
    high = read_uncommitted(settings, group)  # its end offsets include the open ones
    try:

        def settled() -> bool:
            lso = kafka.end_offsets(stable, topic)
            hw = kafka.end_offsets(high, topic)
            return [tp.offset for tp in lso] == [tp.offset for tp in hw]

        wait_until(settled, timeout_s, f"{topic}: an open transaction")
    finally:
        stable.close()
        high.close()


def wait_until(
    check: Callable[[], T | None],
    timeout_s: float,
    what: str = "condition",
    interval_s: float = 0.05,
) -> T:
    """Call ``check`` every ``interval_s`` until it returns something truthy, and return that;
    after ``timeout_s`` raise ``TimeoutError`` naming ``what``."""
    got = _poll(check, timeout_s, interval_s)
    if not got:
        raise TimeoutError(f"{what}: not within {timeout_s:g}s")
    return got


def poll_until(check: Callable[[], object], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Like :func:`wait_until`, but ``False`` after ``timeout_s`` instead of an error: for a
    test that goes on and asserts on what it then sees."""
    return bool(_poll(check, timeout_s, interval_s))


def _poll(check: Callable[[], T | None], timeout_s: float, interval_s: float) -> T | None:
    """``check``'s first truthy result, or its last one at the deadline (where it is called
    once more, so a condition met while sleeping is not reported as a timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = time.monotonic() >= deadline
        got = check()
        if got or last:
            return got
        time.sleep(max(0.0, min(interval_s, deadline - time.monotonic())))


@contextmanager
def api_process(
    env: dict[str, str], port: int, log: Path, timeout_s: float = 60.0
) -> Iterator[str]:
    """A real ``vigil api`` on loopback ``port`` with ``env`` (settings as ``VIGIL_*``), its
    output in ``log``; yields its base URL once ``/v1/health`` answers 200, terminates it after.
    A process that exits or never gets healthy raises with the end of its log."""

    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "vigil"), "api", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:

            def healthy() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"vigil api exited: {log.read_text()[-3000:]}")
                try:
                    return httpx.get(f"{url}/v1/health", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(healthy, timeout_s, f"vigil api on {url} ({log})")
            yield url
        finally:
            proc.terminate()
            proc.wait(30)


# -- real servers ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback now (the OS picks it), for a server about to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def user_cache_dir() -> Path:
    """The user's Vigil cache, so Kafka's jars and the models are fetched once for all runs."""
    return CoreSettings().cache_dir


@contextmanager
def kafka_broker(
    home: Path,
    cache_dir: Path | None = None,
    *,
    retention_check_ms: int = 300_000,
    cleaner_backoff_ms: int = 15_000,
    timeout_s: float = 180.0,
) -> Iterator[KafkaBroker]:
    """A real single-node Apache Kafka (KRaft) under ``home`` on free ports, stopped after.
    Its jars are fetched into ``cache_dir`` (default: the user's cache) once."""
    broker = KafkaBroker(
        home=home,
        cache_dir=cache_dir or user_cache_dir(),
        port=free_port(),
        controller_port=free_port(),
        retention_check_ms=retention_check_ms,
        cleaner_backoff_ms=cleaner_backoff_ms,
    )
    broker.start(timeout_s=timeout_s)
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def clickhouse_server(home: Path, timeout_s: float = 60.0) -> Iterator[ClickHouseServer]:
    """A real ClickHouse server (Debian's ``clickhouse-server`` binary) under ``home`` on free
    ports, stopped after; ``vigil.stack.find_server_binary()`` says whether one is installed."""
    server = ClickHouseServer(home=home, tcp_port=free_port(), http_port=free_port())
    server.start(timeout_s=timeout_s)
    try:
        yield server
    finally:
        server.stop()


def unique_prefix(tag: str = "t") -> str:
    """A topic prefix no other test or run uses, so nothing is shared by accident."""
    return f"{tag}{uuid.uuid4().hex[:10]}"


def settings_for(cls: type[S], broker: KafkaBroker, data_dir: Path, **sections: Any) -> S:
    """Settings of class ``cls`` (a process's settings, or the full ones) on ``broker`` with a
    unique topic prefix, a private ``data_dir`` and the user's cache; ``sections`` override any
    field (``topics=``, ``worker=`` ...)."""
    fields: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=broker.bootstrap),
        "topics": TopicSettings(prefix=unique_prefix()),
        "data_dir": data_dir,
        "cache_dir": user_cache_dir(),
    }
    return cls(**{**fields, **sections})


def new_topic(settings: CoreSettings, partitions: int = 1, **config: str) -> str:
    """Create a topic named ``<prefix>.<random>`` and wait for its leaders; returns the name."""
    name = f"{settings.topics.prefix}.{uuid.uuid4().hex[:8]}"
    client = kafka.admin(settings)
    client.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    wait_for_leaders(client, [name])
    return name


# -- child processes ------------------------------------------------------------------------


def vigil_command(*args: str) -> list[str]:
    """The ``vigil`` console script of this interpreter's environment, with ``args``."""
    return [str(Path(sys.executable).parent / "vigil"), *args]


def child_env(settings: CoreSettings, **extra: str) -> dict[str, str]:
    """The environment for a ``vigil`` child on ``settings``' broker, topics, data and cache:
    the parent's environment less its own ``VIGIL_*`` (so a developer's shell cannot leak in),
    then ``extra`` (more ``VIGIL_*`` settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_KAFKA__BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        VIGIL_TOPICS__PREFIX=settings.topics.prefix,
        VIGIL_DATA_DIR=str(settings.data_dir),
        VIGIL_CACHE_DIR=str(settings.cache_dir),
    )
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[Any], timeout_s: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout_s)
