"""The worker's transactions: one open at a time, holding the detections, DLQ records and
consumed offsets of one or more batches, committed together (exactly-once read-process-write).

A commit may run in the background (:meth:`Transactions.commit_async`) while the worker infers
the next batch: librdkafka's commit releases the GIL, so the ~10-40 ms round trips to the
transaction coordinator overlap the engine instead of stalling it. The next transaction cannot
begin before that commit is settled (:meth:`Transactions.settle`): the next batch's records are
produced only after it, so the order of transactions and their offsets is what it was.

An error that requires abort aborts (the caller rewinds); a fatal one (fenced by a newer
instance with our ``transactional.id``) is raised: the worker stops.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from gpu_workers.worker.items import Txn
from gpu_workers.worker.metrics import STAGE_SECONDS, TRANSACTIONS
from vigil import faults, kafka

log = logging.getLogger(__name__)
# How long a commit's retriable errors (a coordinator lost or hung) are retried before the
# transaction is given up (aborted, its frames read again): never a silent, endless wait.
COMMIT_RETRY_S = 60.0


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
        self._committer = ThreadPoolExecutor(1, thread_name_prefix="commit")
        self._committing: tuple[Txn, Future[None]] | None = None

    @property
    def committing(self) -> bool:
        """Whether a background commit is in flight (not yet settled)."""
        return self._committing is not None

    @property
    def finished(self) -> bool:
        """Whether a background commit is in flight and has finished (settling won't wait)."""
        return self._committing is not None and self._committing[1].done()

    def begin(self) -> Txn:
        """The open transaction, begun if none is (settle a background commit first)."""
        if self._committing is not None:
            raise RuntimeError("a transaction is committing: settle it before the next begins")
        if self.open is None:
            self.producer.begin_transaction()
            self.open = Txn(time.monotonic())
        return self.open

    def wait_s(self, now: float, wait: float) -> float:
        """``wait`` shortened to when the open transaction is due."""
        if self.open is None:
            return wait
        return min(wait, max(0.0, self.open.started + self.interval_s - now))

    def due(self, queued: int, full: int) -> bool:
        """Commit unless a full batch is queued behind this one (live traffic: every batch
        commits, in the background); through a backlog, when the transaction is
        ``interval_s`` old (amortised, as Kafka Streams does)."""
        txn = self.open
        if txn is None:
            return False
        return queued < full or time.monotonic() - txn.started >= self.interval_s

    def commit(self, group_metadata: Any) -> Txn | None:
        """The open transaction's offsets into it, then commit (retriable errors retried);
        the committed transaction, None when nothing was open. Raises ``KafkaException`` or
        ``BufferError`` with the transaction still open (abort it)."""
        txn = self.open
        if txn is None:
            return None
        self._finish(txn, group_metadata)
        self.open = None
        TRANSACTIONS.labels("committed").inc()
        return txn

    def commit_async(self, group_metadata: Any) -> None:
        """Start committing the open transaction in the background; :meth:`settle` says how
        it went. Nothing is open meanwhile, and nothing can begin."""
        txn = self.open
        if txn is None or self._committing is not None:
            return
        self.open = None
        self._committing = (txn, self._committer.submit(self._finish, txn, group_metadata))

    def settle(self) -> Txn | None:
        """Wait for the background commit: the committed transaction (None when none was in
        flight). When it failed, the transaction is open again and its error is raised, as
        :meth:`commit` raises it (abort it)."""
        if self._committing is None:
            return None
        txn, future = self._committing
        self._committing = None
        try:
            future.result()
        except BaseException:
            self.open = txn
            raise
        TRANSACTIONS.labels("committed").inc()
        return txn

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def _finish(self, txn: Txn, group_metadata: Any) -> None:
        t0 = time.perf_counter()
        positions = [TopicPartition(t, p, o) for (t, p), o in txn.offsets.items()]
        kafka.within(
            "the worker's send_offsets_to_transaction",
            COMMIT_RETRY_S,
            lambda: self.producer.send_offsets_to_transaction(positions, group_metadata, 30),
        )
        faults.hit("worker_commit")
        deadline = time.monotonic() + COMMIT_RETRY_S
        while True:
            try:
                self.producer.commit_transaction(30)
                break
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                retriable = isinstance(err, KafkaError) and err.retriable()
                if not retriable or time.monotonic() > deadline:
                    raise  # the caller aborts: the batch is read again from the commits
                log.warning("commit of the transaction not done yet (%s): retrying", err)
        STAGE_SECONDS.labels("commit").observe(time.perf_counter() - t0)

    def abort(self) -> None:
        """Abort the open transaction (its records are never seen by read_committed readers)."""
        if self.open is None:
            return
        self.producer.abort_transaction(30)
        self.open = None
        TRANSACTIONS.labels("aborted").inc()
