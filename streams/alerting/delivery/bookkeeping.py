"""What a lane may commit: per partition, the offsets it has taken and which are finished.

Alerts of one partition finish out of order (several are posted at once), but a Kafka offset
commit means "everything before this is done". So the commit point of a partition is just
after the longest finished prefix of what was taken; an unfinished alert holds back the
commit of every later one, and after a restart those are sent again (at least once)."""

from __future__ import annotations

from collections import OrderedDict


class PartitionOffsets:
    """The offsets taken from one partition, in the order the consumer returned them."""

    def __init__(self) -> None:
        self._open: OrderedDict[int, bool] = OrderedDict()  # offset -> finished
        self._done_before: int | None = None  # everything below this offset is finished

    def take(self, offset: int) -> None:
        if self._open and offset <= next(reversed(self._open)):
            raise ValueError(f"offset {offset} taken after {next(reversed(self._open))}")
        if self._done_before is not None and offset < self._done_before:
            raise ValueError(f"offset {offset} is below the finished prefix {self._done_before}")
        self._open[offset] = False

    def finish(self, offset: int) -> bool:
        """Mark ``offset`` finished; False if it was never taken (or already forgotten)."""
        if offset not in self._open:
            return False
        self._open[offset] = True
        while self._open:
            first, done = next(iter(self._open.items()))
            if not done:
                break
            self._open.popitem(last=False)
            self._done_before = first + 1
        return True

    @property
    def open(self) -> int:
        """Offsets taken and not yet behind the commit point (finished or not)."""
        return len(self._open)

    def commit_point(self, position: int | None = None) -> int | None:
        """The offset to commit, or None when nothing is finished yet. Once nothing is open,
        the consumer's ``position`` (which moves past transaction markers and aborted records,
        never past a record it has not returned) is used if it is further on."""
        if not self._open and position is not None and position >= 0:
            return max(position, self._done_before or 0)
        return self._done_before


class OffsetBook:
    """:class:`PartitionOffsets` for every partition a lane owns."""

    def __init__(self) -> None:
        self._parts: dict[int, PartitionOffsets] = {}

    def take(self, partition: int, offset: int) -> None:
        self._parts.setdefault(partition, PartitionOffsets()).take(offset)

    def finish(self, partition: int, offset: int) -> bool:
        part = self._parts.get(partition)
        return part is not None and part.finish(offset)

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self._parts.pop(p, None)

    @property
    def open(self) -> int:
        return sum(p.open for p in self._parts.values())

    def idle(self, partition: int) -> bool:
        part = self._parts.get(partition)
        return part is None or part.open == 0

    def commit_points(self, positions: dict[int, int]) -> dict[int, int]:
        """Partition -> offset to commit, for the partitions in ``positions`` (the owned ones,
        with the consumer's position, -1001 where it has none)."""
        out: dict[int, int] = {}
        for p, position in positions.items():
            part = self._parts.get(p)
            point = (
                part.commit_point(position)
                if part is not None
                else (position if position >= 0 else None)
            )
            if point is not None:
                out[p] = point
        return out


class RecentIds:
    """The last ``capacity`` alert ids a lane started, for de-duplication in bounded memory."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, alert_id: str) -> None:
        self._ids[alert_id] = None
        self._ids.move_to_end(alert_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)

    def discard(self, alert_id: str) -> None:
        self._ids.pop(alert_id, None)
