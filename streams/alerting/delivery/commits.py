"""A lane's offset commits: the finished prefix of each owned partition, asynchronously about
every 0.2 s while running (again if not acknowledged within 2 s), synchronously on a revoke
and at the end."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.alerting.delivery.bookkeeping import OffsetBook

log = logging.getLogger("streams.alerting.delivery")
COMMIT_EVERY_S = 0.2
RECOMMIT_AFTER_S = 2.0


class Committer:
    """Knows which partitions the lane owns and what the group has acknowledged."""

    def __init__(self, topic: str, group_id: str, book: OffsetBook) -> None:
        self.topic = topic
        self.group_id = group_id
        self.book = book
        self.owned: set[int] = set()
        self._acked: dict[int, int] = {}
        self._requested: dict[int, tuple[int, float]] = {}
        self._last = 0.0

    def tps(self, partitions: Iterable[int] | None = None) -> list[TopicPartition]:
        chosen = self.owned if partitions is None else partitions
        return [TopicPartition(self.topic, p) for p in sorted(chosen)]

    def assigned(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self.owned.add(p)
            self._acked.pop(p, None)
            self._requested.pop(p, None)

    def released(self, partitions: set[int]) -> None:
        self.owned -= partitions
        for p in partitions:
            self._acked.pop(p, None)
            self._requested.pop(p, None)

    def _points(self, consumer: Consumer, partitions: set[int]) -> dict[int, int]:
        positions = {p: -1 for p in partitions}
        idle = [p for p in partitions if self.book.idle(p)]
        if idle:  # nothing open: the position also moves past transaction markers
            positions.update({tp.partition: tp.offset for tp in consumer.position(self.tps(idle))})
        points = self.book.commit_points(positions)
        return {p: o for p, o in points.items() if o > self._acked.get(p, -1)}

    def tick(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if now - self._last < COMMIT_EVERY_S:
            return
        self._last = now
        todo = []
        for p, offset in self._points(consumer, self.owned).items():
            last = self._requested.get(p)
            if last is not None and last[0] == offset and now - last[1] < RECOMMIT_AFTER_S:
                continue
            self._requested[p] = (offset, now)
            todo.append(TopicPartition(self.topic, p, offset))
        if todo:
            try:
                consumer.commit(offsets=todo, asynchronous=True)
            except KafkaException as exc:
                log.warning("%s: commit failed (%s); retried", self.group_id, exc)

    def on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The consumer's ``on_commit`` callback (served by its poll, in the lane thread)."""
        if err is not None:
            log.warning("%s: commit failed (%s); retried", self.group_id, err)
            return
        for tp in partitions:
            if tp.error is None and tp.partition in self.owned:
                self._acked[tp.partition] = max(self._acked.get(tp.partition, -1), tp.offset)

    def commit_now(self, consumer: Consumer, partitions: set[int]) -> None:
        points = self._points(consumer, partitions & self.owned)
        if not points:
            return
        try:
            consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in points.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            log.warning("%s: final commit failed (%s); the next owner re-sends", self.group_id, exc)
            return
        self._acked.update(points)
