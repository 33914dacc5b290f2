"""Consumer groups seen from outside: committed offsets, caught up or not, a new group's start
(a topic's end is :func:`vigil.follow.topic_ends`)."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from streams.alerting.settings import AlertingProcessSettings
from vigil import kafka


def committed_offsets(
    settings: AlertingProcessSettings,
    group: str,
    topic: str,
    partitions: list[int],
    timeout_s: float = 10.0,
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


def seed_group(
    settings: AlertingProcessSettings,
    consumer: Consumer,
    topic: str,
    reference: str,
    timeout_s: float = 10.0,
) -> list[int] | None:
    """If the consumer's group has committed nothing on ``topic``, commit (synchronously) where
    ``reference`` has committed, or each partition's beginning where that has none; the
    offsets committed, or None if the group already had a place. ``reference`` is read first:
    a group seeded meanwhile by another process is then seen and kept."""
    parts = [tp.partition for tp in kafka.end_offsets(consumer, topic, timeout_s)]
    if not parts:
        return None
    ref = committed_offsets(settings, reference, topic, parts, timeout_s)
    tps = [TopicPartition(topic, p) for p in parts]
    if any(tp.offset >= 0 for tp in consumer.committed(tps, timeout=timeout_s)):
        return None
    start = []
    for tp in tps:
        offset = ref.get(tp.partition, -1)
        if offset < 0:
            offset = consumer.get_watermark_offsets(tp, timeout_s)[0]
        start.append(TopicPartition(topic, tp.partition, offset))
    consumer.commit(offsets=start, asynchronous=False)
    return [tp.offset for tp in start]
