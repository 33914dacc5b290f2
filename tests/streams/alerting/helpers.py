"""What the alerting tests add to ``vigil.testing`` (which runs ``vigil alerts``, feeds it
DetectionEvents and reads back what it published): raw records, consumer-group membership
and a paced publisher."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import KafkaException

from schemas.contracts import serde_for
from vigil import kafka
from vigil.testing import poll_until, vigil_command
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

VIGIL = vigil_command()[0]


def publish_raw(settings: VigilSettings, key: str, value: bytes) -> None:
    prod = kafka.producer(settings)
    kafka.produce(prod, Topic.DETECTIONS.name_in(settings.topics), value, key=key)
    prod.flush(30)


def wait_members(settings: VigilSettings, group: str, members: int, timeout_s: float) -> None:
    """Until the consumer group is stable with ``members`` members, each holding partitions."""
    client = kafka.admin(settings)

    def stable() -> bool:
        try:
            desc: Any = client.describe_consumer_groups([group])[group].result(10)
        except KafkaException:
            desc = None
        if desc is not None and str(desc.state).endswith("STABLE"):
            holding = [m for m in desc.members if m.assignment.topic_partitions]
            if len(holding) == members:
                return True
        return False

    if not poll_until(stable, timeout_s, interval_s=0.5):
        raise TimeoutError(f"group {group} did not reach {members} members in {timeout_s:.0f}s")


class PacedPublisher:
    """Publishes detection events in order at about ``per_s`` a second from a thread, as live
    cameras do, so that processes can be killed while the stream is still flowing."""

    def __init__(self, settings: VigilSettings, events: list[dict[str, Any]], per_s: float):
        self.settings = settings
        self.events = events
        self.per_s = per_s
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-publisher", daemon=True)

    def start(self) -> PacedPublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        topic = Topic.DETECTIONS.name_in(self.settings.topics)
        serde = serde_for(self.settings, Topic.DETECTIONS)
        prod = kafka.producer(self.settings)
        started = time.monotonic()
        try:
            for i, ev in enumerate(self.events):
                if self._stop.is_set():
                    return
                ahead = started + i / self.per_s - time.monotonic()
                if ahead > 0:
                    prod.flush(ahead)
                    self._stop.wait(max(0.0, started + i / self.per_s - time.monotonic()))
                kafka.produce(prod, topic, serde.serialize(ev, topic=topic), key=ev["camera_id"])
                self.sent = i + 1
            if prod.flush(30) > 0:
                raise TimeoutError("detections not acknowledged")
        except BaseException as exc:
            self.error = exc
            raise

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError(f"published {self.sent} of {len(self.events)} in {timeout_s} s")
        if self.error is not None:
            raise RuntimeError("publishing failed") from self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
