"""A guard against a source partition whose committed offset stops moving.

faust-streaming 0.15.3 resumes a stream's partitions before it seeks them to their committed
offsets at the end of table recovery; records fetched in that window are delivered, the seek
resets faust's read-offset bookkeeping under them, and now and then an offset is never
acknowledged. Its at-least-once commit needs every offset acknowledged in order, so the group's
committed offset then stays put for good while the app idles (seen in Vigil's kill -9 restart
test under CPU load). The guard notices a partition that has records delivered past its
committed offset and has been quiet for ``stall_s``, and re-reads it from the committed offset:
the missing acknowledgements arrive, and the app's per-offset de-duplication makes the records
it already applied change nothing. A partition that is merely idle (everything committed) is
left alone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class StallGuard:
    def __init__(
        self, topic: str, stall_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.topic = topic
        self.stall_s = stall_s
        self.clock = clock
        self.started = clock()
        self.last_event: dict[int, float] = {}

    def seen(self, partition: int) -> None:
        """Call for every record the stream delivers."""
        self.last_event[partition] = self.clock()

    def stalled(self, partition: int, committed: int | None, read: int | None) -> bool:
        """Records up to ``read`` were delivered, ``committed`` is the next offset the group
        would resume at: stalled when ``committed <= read`` and the partition is quiet."""
        if committed is None or read is None or committed > read:
            return False
        quiet = self.clock() - self.last_event.get(partition, self.started)
        return quiet >= self.stall_s

    async def check(self, consumer: Any) -> list[int]:
        """Rewind every stalled partition of ``topic`` to its committed offset (faust
        consumer); returns the partitions rewound."""
        # faust keeps both positions privately; read defensively so an upgrade fails soft
        committed_of = getattr(consumer, "_committed_offset", {})
        read_of = getattr(consumer, "_read_offset", {})
        rewound = []
        for tp in consumer.assignment():
            if tp.topic != self.topic:
                continue
            committed, read = committed_of.get(tp), read_of.get(tp)
            if self.stalled(tp.partition, committed, read):
                log.warning(
                    "%s[%d]: committed offset %s stopped short of delivered offset %s for %.0f s;"
                    " re-reading from the committed offset",
                    self.topic,
                    tp.partition,
                    committed,
                    read,
                    self.stall_s,
                )
                await consumer.seek(tp, committed)
                self.last_event[tp.partition] = self.clock()
                rewound.append(tp.partition)
        return rewound
