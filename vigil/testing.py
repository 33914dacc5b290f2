"""Test doubles for Kafka transactions, shipped with the library so users' tests and the benches
can prove a consumer of theirs reads ``read_committed`` the way Vigil's own tests do.

:func:`write_aborted` puts records on a topic inside a transaction and aborts it, after making
sure every record reached the log (a record purged before it was sent would prove nothing);
:func:`write_committed` does the same with a commit. Both return where each record landed.
:func:`read_to_end` reads back every committed record of a topic, with no idle wait;
:func:`wait_settled` first waits for transactions still open on it (a killed writer's).
:func:`api_process` runs a real ``vigil api`` until its health check answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message

from vigil import follow, kafka
from vigil.settings import VigilSettings

Record = tuple[str | bytes | None, bytes | None]  # (key, value)


@dataclass(frozen=True)
class Landed:
    """Where one record of a transaction landed in the log."""

    key: str | bytes | None
    partition: int
    offset: int


def write_aborted(
    settings: VigilSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Landed]:
    """Produce ``records`` in one transaction, flush them into the log, then abort it."""
    return _transaction(settings, topic, records, transactional_id, timeout_s, commit=False)


def write_committed(
    settings: VigilSettings,
    topic: str,
    records: Iterable[Record],
    *,
    transactional_id: str | None = None,
    timeout_s: float = 30.0,
) -> list[Landed]:
    """Produce ``records`` in one transaction and commit it."""
    return _transaction(settings, topic, records, transactional_id, timeout_s, commit=True)


def _transaction(
    settings: VigilSettings,
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
    settings: VigilSettings,
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


def read_uncommitted(settings: VigilSettings, group: str) -> Consumer:
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


def wait_settled(settings: VigilSettings, topic: str, timeout_s: float = 60.0) -> None:
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


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it holds; ``TimeoutError`` naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f}s")
        time.sleep(0.05)


@contextmanager
def api_process(
    env: dict[str, str], port: int, log: Path, timeout_s: float = 60.0
) -> Iterator[str]:
    """A real ``vigil api`` on loopback ``port`` with ``env`` (settings as ``VIGIL_*``), its
    output in ``log``; yields its base URL once ``/v1/health`` answers 200, terminates it after.
    A process that exits or never gets healthy raises with the end of its log."""
    import httpx

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
