"""Test doubles for Kafka transactions, shipped with the library so users' tests and the benches
can prove a consumer of theirs reads ``read_committed`` the way Vigil's own tests do.

:func:`write_aborted` puts records on a topic inside a transaction and aborts it, after making
sure every record reached the log (a record purged before it was sent would prove nothing);
:func:`write_committed` does the same with a commit. Both return where each record landed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message

from vigil import kafka
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
