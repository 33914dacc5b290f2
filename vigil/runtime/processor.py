"""What a consumer does, told apart from how it consumes: a :class:`Processor` handles messages
and rebalances; the loop (``vigil.runtime.loop``) calls it, always from the loop's thread."""

from __future__ import annotations

from abc import ABC, abstractmethod

from confluent_kafka import Message, TopicPartition

from vigil.errors import VigilError


class Backpressure(VigilError):
    """The processor cannot take more now (a destination is down, too much is held).

    Raised from :meth:`Processor.step`: the loop pauses every assigned partition (and keeps
    polling, so the group never evicts it), calls ``step`` again after ``retry_after`` seconds,
    and resumes the partitions once a ``step`` returns normally (as quixstreams'
    ``SinkBackpressureError``).
    """

    def __init__(self, reason: str, retry_after: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Processor(ABC):
    """The hooks of one consumer. Only :meth:`process` is required; the others do nothing
    unless overridden."""

    def poll_limits(self) -> tuple[int, float]:
        """At most how many messages the next poll returns, and how long it may wait for them
        in seconds (the loop caps the wait so that a stop is seen soon)."""
        return 500, 0.1

    @abstractmethod
    def process(self, message: Message) -> None:
        """One consumed record (errors and partition ends never reach here)."""

    def step(self) -> None:  # noqa: B027 - optional
        """After every poll: batch work, commits. Raise :class:`Backpressure` to pause intake."""

    def on_assign(self, partitions: list[TopicPartition]) -> list[TopicPartition] | None:
        """Partitions just assigned, not yet fetched. Return them with the offsets to start
        from, or None to start from the group's committed offsets."""
        return None

    def on_revoke(self, partitions: list[TopicPartition]) -> None:  # noqa: B027 - optional
        """Partitions about to go to another member: they are still ours during this call, so
        finish and commit their work here; what is left uncommitted the new owner re-reads."""

    def on_lost(self, partitions: list[TopicPartition]) -> None:  # noqa: B027 - optional
        """Partitions already given to another member (session lost): nothing of theirs can be
        committed any more; drop their work."""

    def drain(self, deadline: float) -> None:  # noqa: B027 - optional
        """On stop, before the group is left: finish and commit what is held, giving up at
        ``deadline`` (``time.monotonic()``); what is left uncommitted is re-read later."""
