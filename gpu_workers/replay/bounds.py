"""From a capture-time range to offsets on the frames topic, and what retention still holds.

Kafka indexes records by their record timestamp (``CreateTime``: when the ingest produced the
frame), not by the FrameEvent's ``capture_ts_ms``. A frame is produced after it is captured,
so its record timestamp is at least its capture time, give or take clock skew between the
camera host and the producer. The plan therefore starts at ``offsets_for_times(T1 - skew)``
(nothing captured from T1 on can sit before it) and ends at
``offsets_for_times(T2 + max_ingest_delay)`` (anything captured up to T2 was produced by then);
the replay then admits exactly the frames whose ``capture_ts_ms`` is in [T1, T2].
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaException, TopicPartition

from vigil.errors import VigilError
from vigil.timeparse import now_ms


class OutOfRetention(VigilError, LookupError):
    """The range starts before the oldest frame the topic still holds."""

    def __init__(self, message: str, available_from_ms: int, available_to_ms: int) -> None:
        super().__init__(message)
        self.available_from_ms = available_from_ms
        self.available_to_ms = available_to_ms


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class PartitionPlan:
    partition: int
    start: int  # first offset to read
    end: int  # read up to here (exclusive)
    low: int  # oldest offset retention kept
    first_ts_ms: int | None  # record timestamp at ``low`` (None: empty partition)

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


@dataclass(frozen=True)
class ReplayPlan:
    topic: str
    from_ms: int
    to_ms: int
    partitions: tuple[PartitionPlan, ...]

    @property
    def total(self) -> int:
        return sum(p.size for p in self.partitions)

    def assignment(self) -> list[TopicPartition]:
        """The partitions with something to read, at their start offsets."""
        return [TopicPartition(self.topic, p.partition, p.start) for p in self.partitions if p.size]

    def ends(self) -> dict[int, int]:
        return {p.partition: p.end for p in self.partitions}


def _offsets_at(
    consumer: Consumer, topic: str, parts: list[int], ts_ms: int, highs: dict[int, int]
) -> dict[int, int]:
    """First offset with a record timestamp >= ``ts_ms`` per partition (the high watermark
    when there is none)."""
    query = [TopicPartition(topic, p, max(0, ts_ms)) for p in parts]
    found = consumer.offsets_for_times(query, timeout=30)
    return {tp.partition: tp.offset if tp.offset >= 0 else highs[tp.partition] for tp in found}


def _first_timestamp(consumer: Consumer, topic: str, partition: int, low: int) -> int | None:
    """The record timestamp of the oldest record still held (read one record at ``low``)."""
    consumer.assign([TopicPartition(topic, partition, low)])
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            return int(msg.timestamp()[1])
        return None
    finally:
        consumer.unassign()


def plan_replay(
    consumer: Consumer,
    topic: str,
    from_ms: int,
    to_ms: int,
    *,
    partitions: list[int] | None = None,
    clock_skew_ms: int = 5_000,
    max_ingest_delay_ms: int = 60_000,
    partial: bool = False,
) -> ReplayPlan:
    """The offsets a replay of captures in [from_ms, to_ms] reads. Raises
    :class:`OutOfRetention` when retention already deleted frames of the range (unless
    ``partial``: then it starts at the oldest frame held)."""
    if to_ms < from_ms:
        raise ValueError(f"--to ({iso(to_ms)}) is before --from ({iso(from_ms)})")
    try:
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
    except KafkaException as exc:
        raise LookupError(f"cannot read topic {topic}: {exc}") from exc
    if meta.error is not None:
        raise LookupError(f"topic {topic}: {meta.error}")
    parts = sorted(meta.partitions)
    if partitions:
        unknown = sorted(set(partitions) - set(parts))
        if unknown:
            raise ValueError(f"{topic} has partitions {parts}; no {unknown}")
        parts = sorted(set(partitions))
    marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), 10.0) for p in parts}
    lows = {p: int(m[0]) for p, m in marks.items()}
    highs = {p: int(m[1]) for p, m in marks.items()}
    starts = _offsets_at(consumer, topic, parts, from_ms - clock_skew_ms, highs)
    ends = _offsets_at(consumer, topic, parts, to_ms + max_ingest_delay_ms + 1, highs)
    firsts = {
        p: _first_timestamp(consumer, topic, p, lows[p]) if highs[p] > lows[p] else None
        for p in parts
    }
    truncated = [
        p
        for p in parts
        if lows[p] > 0 and firsts[p] is not None and int(firsts[p] or 0) > from_ms - clock_skew_ms
    ]
    if truncated and not partial:
        oldest = max(int(firsts[p] or 0) for p in truncated)
        raise OutOfRetention(
            f"frames before {iso(oldest)} are no longer on {topic} (retention deleted them on "
            f"partitions {truncated}); available: {iso(oldest)} to {iso(now_ms())}. "
            "Replay a later --from, or pass --partial to replay what is left.",
            oldest,
            now_ms(),
        )
    plans = tuple(
        PartitionPlan(p, max(starts[p], lows[p]), max(ends[p], lows[p]), lows[p], firsts[p])
        for p in parts
    )
    return ReplayPlan(topic, from_ms, to_ms, plans)
