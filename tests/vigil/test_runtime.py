"""The consumer runtime against the real broker: a partition paused when it was revoked is
consumed again when it comes back (the worker's rebalance stall), backpressure pauses until a
step succeeds and waits ``retry_after``, stop is seen and drain gets its deadline, lag is the
high watermark minus the position."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Message, TopicPartition
from prometheus_client import REGISTRY

from vigil import kafka
from vigil.runtime import Backpressure, ConsumerLoop, ConsumerMetrics, Processor
from vigil.testing import wait_until
from vigil_app.settings import VigilSettings

PREFIX = "vigil_test_runtime"
METRICS = ConsumerMetrics.named(PREFIX)
PER_LOOP = ConsumerMetrics.named(f"{PREFIX}_per", per=("lane",))


class Recorder(Processor):
    """Records what it is given; raises :class:`Backpressure` while ``congested`` or once it
    has seen ``congest_after`` records."""

    def __init__(
        self, limit: int = 500, retry_after: float = 0.0, congest_after: int | None = None
    ) -> None:
        self.seen: set[tuple[int, int]] = set()
        self.owned: set[int] = set()
        self.congested = False
        self.congest_after = congest_after
        self.retry_after = retry_after
        self.limit = limit
        self.steps: list[float] = []
        self.drained_with: float | None = None

    def poll_limits(self) -> tuple[int, float]:
        return self.limit, 0.1

    def process(self, message: Message) -> None:
        self.seen.add((int(message.partition() or 0), int(message.offset() or 0)))

    def step(self) -> None:
        self.steps.append(time.monotonic())
        full = self.congest_after is not None and len(self.seen) >= self.congest_after
        if self.congested or full:
            raise Backpressure("congested", self.retry_after)

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        self.owned.update(tp.partition for tp in partitions)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        self.owned.difference_update(tp.partition for tp in partitions)

    def on_lost(self, partitions: list[TopicPartition]) -> None:
        self.on_revoke(partitions)

    def drain(self, deadline: float) -> None:
        self.drained_with = deadline


def produce(settings: VigilSettings, topic: str, partitions: int, count: int) -> None:
    prod = kafka.producer(settings)
    for p in range(partitions):
        for _ in range(count):
            prod.produce(topic, b"x", partition=p)
    prod.flush(30)


Start = Callable[..., tuple[ConsumerLoop, Recorder, threading.Thread]]


@pytest.fixture
def start(settings: VigilSettings) -> Iterator[Start]:
    """Run a loop over ``topic`` in group ``group`` in a thread; all stopped at the end."""
    running: list[tuple[ConsumerLoop, threading.Thread]] = []

    def run(
        topic: str, group: str, recorder: Recorder | None = None, **loop: Any
    ) -> tuple[ConsumerLoop, Recorder, threading.Thread]:
        rec = recorder or Recorder()
        consumer = kafka.consumer(settings, group, **{"session.timeout.ms": 6000})
        metrics = loop.pop("metrics", METRICS)
        cl = ConsumerLoop(consumer, metrics, **loop)
        cl.subscribe([topic])

        def target() -> None:
            try:
                cl.run(rec)
            finally:
                cl.close()

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        running.append((cl, thread))
        return cl, rec, thread

    yield run
    for cl, thread in running:
        cl.stop()
        thread.join(30)


def test_a_partition_paused_when_revoked_is_consumed_when_it_comes_back(
    settings: VigilSettings, new_topic: Callable[..., str], start: Start
) -> None:
    topic = new_topic(2)
    produce(settings, topic, 2, 10)
    first = Recorder()
    first.congested = True  # backpressure holds both partitions when the rebalance lands
    _, first, _ = start(topic, "g-paused", first)
    wait_until(lambda: first.owned == {0, 1}, 60, "first owns both partitions")
    second_loop, second, second_thread = start(topic, "g-paused")
    wait_until(lambda: len(first.owned) == 1 and len(second.owned) == 1, 60, "a split")
    first.congested = False  # resumes what it owns now
    second_loop.stop()  # leaves: its partition goes back to the first, paused in librdkafka
    second_thread.join(30)
    wait_until(lambda: first.owned == {0, 1}, 60, "first owns both partitions again")
    produce(settings, topic, 2, 10)
    every = {(p, o) for p in (0, 1) for o in range(20)}
    wait_until(lambda: first.seen >= every, 30, "every record consumed by the first")


def test_backpressure_pauses_until_a_step_succeeds_after_retry_after(
    settings: VigilSettings, new_topic: Callable[..., str], start: Start
) -> None:
    topic = new_topic(1)
    rec = Recorder(limit=1, retry_after=1.0)
    rec.congested = True
    cl, rec, _ = start(topic, "g-retry", rec)
    wait_until(lambda: rec.owned == {0}, 60, "assigned")
    produce(settings, topic, 1, 50)
    wait_until(lambda: cl.paused and len(rec.steps) >= 3, 30, "paused, steps retried")
    gaps = [b - a for a, b in zip(rec.steps[1:], rec.steps[2:], strict=False)]
    assert min(gaps) >= 0.95  # no step before retry_after has passed
    seen = len(rec.seen)
    time.sleep(1.5)
    assert len(rec.seen) == seen < 50  # paused: nothing more arrives
    assert REGISTRY.get_sample_value(f"{PREFIX}_paused_partitions") == 1
    assert cl.pauses == 1
    rec.congested = False
    wait_until(lambda: len(rec.seen) == 50, 30, "resumed: every record")
    assert not cl.paused
    assert cl.pauses == 1


def test_stop_is_seen_promptly_and_drain_gets_its_deadline(
    settings: VigilSettings, new_topic: Callable[..., str], start: Start
) -> None:
    topic = new_topic(1)
    cl, rec, thread = start(topic, "g-stop", drain_timeout_s=7.0)
    wait_until(lambda: rec.owned == {0}, 60, "assigned")
    t0 = time.monotonic()
    cl.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert rec.drained_with is not None
    assert 6.0 <= rec.drained_with - t0 <= 8.0
    assert rec.owned == set()  # close() left the group: the revoke hook ran


def test_lag_is_the_high_watermark_minus_the_position(
    settings: VigilSettings, new_topic: Callable[..., str], start: Start
) -> None:
    topic = new_topic(1)
    produce(settings, topic, 1, 10)
    rec = Recorder(limit=1, congest_after=1)  # one record, then paused: the position stays 1
    cl, rec, _ = start(topic, "g-lag", rec)

    def lag() -> float | None:
        return REGISTRY.get_sample_value(
            f"{PREFIX}_consumer_lag", {"topic": topic, "partition": "0"}
        )

    wait_until(lambda: lag() is not None, 30, "lag reported")
    assert lag() == 10 - len(rec.seen) == 9
    consumed = REGISTRY.get_sample_value(f"{PREFIX}_messages_total", {"topic": topic})
    assert consumed == 1
    cl.stop()
    wait_until(lambda: lag() is None, 30, "series removed when the partition left")


class Patient(Recorder):
    """Asks for big polls that may wait long: only an eager loop returns on the first record."""

    def poll_limits(self) -> tuple[int, float]:
        return 500, 5.0


def test_an_eager_loop_returns_the_first_record_at_once_and_bound_metrics_stay_apart(
    settings: VigilSettings, new_topic: Callable[..., str], start: Start
) -> None:
    topic = new_topic(1)
    _, a, _ = start(
        topic, "g-eager-a", Patient(), eager=True, max_wait_s=5.0, metrics=PER_LOOP.bound("a")
    )
    _, b, _ = start(
        topic, "g-eager-b", Patient(), eager=True, max_wait_s=5.0, metrics=PER_LOOP.bound("b")
    )
    wait_until(lambda: a.owned == b.owned == {0}, 60, "both assigned")
    time.sleep(0.5)  # both loops are inside a poll that may wait 5 s
    t0 = time.monotonic()
    produce(settings, topic, 1, 1)
    wait_until(lambda: len(a.seen) == len(b.seen) == 1, 30, "the record seen by both")
    assert time.monotonic() - t0 < 2.0  # not after the poll's 5 s wait
    produce(settings, topic, 1, 2)
    wait_until(lambda: len(a.seen) == len(b.seen) == 3, 30, "every record seen by both")

    def consumed(lane: str) -> float | None:
        return REGISTRY.get_sample_value(
            f"{PREFIX}_per_messages_total", {"lane": lane, "topic": topic}
        )

    assert consumed("a") == consumed("b") == 3  # one series per loop, not one shared
