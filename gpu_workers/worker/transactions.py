"""The worker's transactions: one open at a time, holding the detections, DLQ records and
consumed offsets of one or more batches, committed together (exactly-once read-process-write).

An error that requires abort aborts (the caller rewinds); a fatal one (fenced by a newer
instance with our ``transactional.id``) is raised: the worker stops.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from gpu_workers.worker.items import Txn
from gpu_workers.worker.metrics import TRANSACTIONS


def must_raise(exc: BaseException) -> bool:
    """Whether a producer error ends the worker instead of aborting the transaction: fatal
    (fenced), or neither abortable nor retriable."""
    kerr = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    if not isinstance(kerr, KafkaError):
        return False
    if kerr.fatal():
        TRANSACTIONS.labels("fatal").inc()
        return True
    return not kerr.txn_requires_abort() and not kerr.retriable()


class Transactions:
    def __init__(self, producer: Producer, interval_s: float) -> None:
        self.producer = producer
        self.interval_s = interval_s  # a transaction spans batches up to this age while busy
        self.open: Txn | None = None

    def begin(self) -> Txn:
        """The open transaction, begun if none is."""
        if self.open is None:
            self.producer.begin_transaction()
            self.open = Txn(time.monotonic())
        return self.open

    def wait_s(self, now: float, wait: float) -> float:
        """``wait`` shortened to when the open transaction is due."""
        if self.open is None:
            return wait
        return min(wait, max(0.0, self.open.started + self.interval_s - now))

    def due(self, queued: int) -> bool:
        """Commit when nothing else is queued (low latency when idle) or when the transaction
        is ``interval_s`` old (amortised under load, as Kafka Streams does)."""
        txn = self.open
        if txn is None:
            return False
        return not queued or time.monotonic() - txn.started >= self.interval_s

    def commit(self, group_metadata: Any) -> Txn | None:
        """The open transaction's offsets into it, then commit (retriable errors retried);
        the committed transaction, None when nothing was open. Raises ``KafkaException`` or
        ``BufferError`` with the transaction still open (abort it)."""
        txn = self.open
        if txn is None:
            return None
        positions = [TopicPartition(t, p, o) for (t, p), o in txn.offsets.items()]
        self.producer.send_offsets_to_transaction(positions, group_metadata, 30)
        while True:
            try:
                self.producer.commit_transaction(30)
                break
            except KafkaException as exc:
                if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].retriable():
                    continue
                raise
        self.open = None
        TRANSACTIONS.labels("committed").inc()
        return txn

    def abort(self) -> None:
        """Abort the open transaction (its records are never seen by read_committed readers)."""
        if self.open is None:
            return
        self.producer.abort_transaction(30)
        self.open = None
        TRANSACTIONS.labels("aborted").inc()
