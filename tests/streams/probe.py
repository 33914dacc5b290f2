"""A probe of what a stream app has *produced*, committed or not: it reads ``read_uncommitted``
(no Vigil consumer can), so a test can SIGKILL an app in the window between a record's send
and its transaction's commit, the window exactly-once has to get right."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import TopicPartition

from schemas.contracts import serde_for
from vigil import kafka
from vigil.testing import poll_until, read_uncommitted
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


class Uncommitted:
    def __init__(self, settings: VigilSettings, role: Topic) -> None:
        self.topic = role.name_in(settings.topics)
        self.serde = serde_for(settings, role)
        self.cons = read_uncommitted(settings, f"probe-{uuid.uuid4().hex[:8]}")
        parts = kafka.end_offsets(self.cons, self.topic)
        self.cons.assign([TopicPartition(self.topic, tp.partition, 0) for tp in parts])
        self.seen: list[dict[str, Any]] = []

    def wait_for(
        self,
        match: Callable[[dict[str, Any]], bool],
        timeout_s: float,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """Until a record for which ``match`` holds has been produced (maybe not committed)."""

        def produced() -> bool:
            for msg in self.cons.consume(100, timeout=0.05):
                if msg.error() is None:
                    self.seen.append(self.serde.decode(msg))
            if any(match(r) for r in self.seen):
                return True
            if not alive():
                raise RuntimeError(f"the app writing {self.topic} exited")
            return False

        if not poll_until(produced, timeout_s, interval_s=0):
            raise TimeoutError(f"no such record produced on {self.topic} in {timeout_s:.0f}s")

    def close(self) -> None:
        self.cons.close()
