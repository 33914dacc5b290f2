"""Reading a consumer group's committed offsets and a topic's end, from outside the group."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from vigil import kafka
from vigil.settings import VigilSettings


def end_offsets(settings: VigilSettings, topic: str, timeout_s: float = 30.0) -> dict[int, int]:
    """Partition -> high watermark (the offset after the last record, transaction markers
    included)."""
    probe = kafka.consumer(settings, "vigil-probe")  # never subscribes: joins no group
    try:
        return {tp.partition: tp.offset for tp in kafka.end_offsets(probe, topic, timeout_s)}
    finally:
        probe.close()


def committed_offsets(
    settings: VigilSettings, group: str, topic: str, partitions: list[int], timeout_s: float = 10.0
) -> dict[int, int]:
    """Partition -> the group's committed offset; -1 where it has none."""
    reader = kafka.consumer(settings, group)  # never subscribes: does not disturb the group
    try:
        got = reader.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout_s)
        return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in got}
    finally:
        reader.close()


def caught_up(committed: dict[int, int], ends: dict[int, int]) -> bool:
    """Has the group committed up to ``ends`` on every partition (an empty one counts)?"""
    return all(end <= 0 or committed.get(p, -1) >= end for p, end in ends.items())
