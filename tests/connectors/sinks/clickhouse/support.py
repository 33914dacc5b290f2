"""Both ClickHouse backends for the sink's tests, a unique database per test, and a producer of
DetectionEvents/Alerts/DriftStats that remembers where each one landed."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors.sinks.clickhouse.sink import ClickHouseSink
from schemas.contracts import serde_for
from vigil import kafka
from vigil.clickhouse import ClickHouseClient, connect
from vigil.stack import ClickHouseServer
from vigil.testing import samples
from vigil.topics import Topic, ensure_topics, topic_specs, wait_for_leaders
from vigil_app.settings import ClickHouseSettings, ClickHouseSinkSettings, VigilSettings

LABELS = ("person", "car", "bicycle", "dog")


@pytest.fixture(params=["chdb", "server"])
def sink_settings(request: pytest.FixtureRequest, settings: VigilSettings) -> VigilSettings:
    """The test's settings on one backend, a unique database, small batches, topics created."""
    url = ""
    if request.param == "server":
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
        url = server.url
    result = settings.model_copy(
        update={
            "clickhouse": ClickHouseSettings(url=url, database=f"t_{uuid.uuid4().hex[:10]}"),
            "clickhouse_sink": ClickHouseSinkSettings(
                batch_max_rows=500, batch_max_s=0.3, retry_initial_s=0.2, retry_max_s=2.0
            ),
        }
    )
    create_topics(result)
    return result


def create_topics(settings: VigilSettings) -> None:
    client = kafka.admin(settings)
    ensure_topics(client, topic_specs(settings.topics))
    wait_for_leaders(client, [t.name_in(settings.topics) for t in Topic])


def open_client(settings: VigilSettings) -> ClickHouseClient:
    return connect(settings)


def now_ms() -> int:
    return int(time.time() * 1000)


def detection_event(seq: int, camera: str, objects: int, ts_ms: int) -> dict[str, Any]:
    event = samples.detection_event()
    template = event["detections"]
    event.update(
        frame_id=f"{camera}-{seq}",
        camera_id=camera,
        sequence=seq,
        capture_ts_ms=ts_ms,
        inference_ts_ms=ts_ms + 40,
        detections=[
            {**template[i % 2], "label": LABELS[(seq + i) % len(LABELS)], "score": 0.5 + i / 64}
            for i in range(objects)
        ],
    )
    return event


@dataclass
class Produced:
    """Where every produced event landed: (partition, offset) -> objects it carries."""

    objects: dict[tuple[int, int], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self, topic: str) -> set[tuple[str, int, int, int]]:
        """The (topic, partition, offset, object index) of every detected object."""
        with self.lock:
            return {(topic, p, o, i) for (p, o), n in self.objects.items() for i in range(n)}

    @property
    def frames(self) -> int:
        return len(self.objects)

    @property
    def detections(self) -> int:
        return sum(self.objects.values())


class DetectionProducer:
    def __init__(self, settings: VigilSettings, seed: int = 7) -> None:
        self.settings = settings
        self.topic = Topic.DETECTIONS.name_in(settings.topics)
        self.serde = serde_for(settings, Topic.DETECTIONS)
        self.producer = kafka.producer(settings)
        self.produced = Produced()
        self.rng = random.Random(seed)
        self.seq = 0

    def send(
        self, count: int, cameras: int = 4, base_ms: int | None = None, pause_s: float = 0.0
    ) -> None:
        """Produce ``count`` events; with ``pause_s``, a pause after every 100 (a stream)."""
        base = now_ms() if base_ms is None else base_ms
        for n in range(count):
            if pause_s and n and n % 100 == 0:
                self.producer.flush(30)
                time.sleep(pause_s)
            self.seq += 1
            objects = self.rng.choice((0, 1, 2, 3))
            camera = f"cam-{self.seq % cameras}"
            event = detection_event(self.seq, camera, objects, base + self.seq)

            def done(err: Any, msg: Any, n: int = objects) -> None:
                if err is not None:
                    raise RuntimeError(f"delivery failed: {err}")
                with self.produced.lock:
                    self.produced.objects[(msg.partition(), msg.offset())] = n

            kafka.produce(
                self.producer,
                self.topic,
                self.serde.serialize(event, topic=self.topic),
                key=camera,
                on_delivery=done,
            )
            self.producer.poll(0)
        self.producer.flush(30)

    def raw(self, value: bytes, key: str = "cam-x") -> None:
        kafka.produce(self.producer, self.topic, value, key=key)
        self.producer.flush(30)


@pytest.fixture
def detections(sink_settings: VigilSettings) -> DetectionProducer:
    return DetectionProducer(sink_settings)


def run_sink_until(
    sink: ClickHouseSink, done: Callable[[ClickHouseSink], bool], timeout_s: float = 90.0
) -> None:
    """Run ``sink`` in a thread until ``done(sink)`` holds while it is idle (or time out)."""
    stop = threading.Event()
    deadline = time.monotonic() + timeout_s
    errors: list[BaseException] = []

    def check() -> None:
        if (sink.idle and done(sink)) or time.monotonic() > deadline:
            stop.set()

    def target() -> None:
        try:
            sink.run(stop, idle=check)
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s + 30)
    if errors:
        raise errors[0]
    if time.monotonic() > deadline:
        raise TimeoutError(f"sink did not finish: {sink.stats}")


def group_committed(settings: VigilSettings, topic: str) -> dict[int, int]:
    """The sink group's committed offset per partition (-1001 when none)."""
    from confluent_kafka import TopicPartition

    cons = kafka.consumer(settings, settings.clickhouse_sink.group_id)
    try:
        parts = kafka.end_offsets(cons, topic)
        got = cons.committed([TopicPartition(topic, tp.partition) for tp in parts], 30)
        return {tp.partition: tp.offset for tp in got}
    finally:
        cons.close()


def members_with_partitions(settings: VigilSettings, topic: str) -> int:
    """How many members of the sink's group are assigned partitions of ``topic``."""
    from confluent_kafka import KafkaException

    client = kafka.admin(settings)
    group = settings.clickhouse_sink.group_id
    try:
        # the stubs (types-confluent-kafka) type this future's result wrongly
        description: Any = client.describe_consumer_groups([group])[group].result(30)
    except KafkaException:  # the group's coordinator is still being elected
        return -1
    return sum(
        any(tp.topic == topic for tp in m.assignment.topic_partitions) for m in description.members
    )


def end_offsets(settings: VigilSettings, topic: str) -> dict[int, int]:
    cons = kafka.consumer(settings, f"probe-{uuid.uuid4().hex[:6]}")
    try:
        return {tp.partition: tp.offset for tp in kafka.end_offsets(cons, topic)}
    finally:
        cons.close()


def stored_keys(client: ClickHouseClient, db: str) -> list[tuple[str, int, int, int]]:
    rows = client.query(
        f"SELECT kafka_topic, kafka_partition, kafka_offset, object_index FROM {db}.detections"
    )
    return [(str(t), int(p), int(o), int(i)) for t, p, o, i in rows]


def assert_exactly_once(settings: VigilSettings, produced: Produced, topic: str) -> None:
    """Every object once, and frames once, compared with what was produced."""
    db = settings.clickhouse.database
    client = open_client(settings)
    try:
        count, unique = client.query(
            f"SELECT count(), uniqExact(kafka_topic, kafka_partition, kafka_offset, object_index) "
            f"FROM {db}.detections"
        )[0]
        keys = stored_keys(client, db)
        frames, unique_frames = client.query(
            f"SELECT count(), uniqExact(kafka_topic, kafka_partition, kafka_offset) "
            f"FROM {db}.frames"
        )[0]
        rollup = client.query(f"SELECT countMerge(detections) FROM {db}.detections_per_minute")
    finally:
        client.close()
    expected = produced.keys(topic)
    assert int(count) == int(unique) == produced.detections
    assert set(keys) == expected
    assert int(frames) == int(unique_frames) == produced.frames
    assert int(rollup[0][0]) == produced.detections, (rollup, produced.detections)
