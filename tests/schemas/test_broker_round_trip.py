"""Every contract through the real broker: byte-identical payloads, evolution, bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Message, TopicPartition

from schemas import contracts as c
from schemas.serde import SerdeError, SingleObjectSerde
from schemas.store import SchemaStore
from vigil import kafka
from vigil.testing.samples import SAMPLES, evolved, frame_event
from vigil_app.settings import VigilSettings


def consume_all(settings: VigilSettings, topic: str, count: int) -> list[Message]:
    cons = kafka.consumer(settings, f"g-{topic}")
    cons.assign([TopicPartition(topic, 0, 0)])
    out: list[Message] = []
    for _ in range(30):
        out.extend(m for m in cons.consume(count, timeout=1.0) if m.error() is None)
        if len(out) >= count:
            break
    cons.close()
    return out


def produce_all(settings: VigilSettings, topic: str, payloads: list[bytes]) -> None:
    prod = kafka.producer(settings)
    for i, payload in enumerate(payloads):
        kafka.produce(prod, topic, payload, key=f"k{i}")
    assert prod.flush(30) == 0


def test_every_schema_round_trips_byte_identical(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    names = sorted(SAMPLES)
    serdes = {n: c.make_serde(settings, n) for n in names}
    payloads = [serdes[n].serialize(SAMPLES[n](), topic=topic) for n in names]
    produce_all(settings, topic, payloads)

    got = consume_all(settings, topic, len(payloads))
    assert [m.value() for m in got] == payloads
    assert [m.key() for m in got] == [f"k{i}".encode() for i in range(len(names))]
    for name, msg in zip(names, got, strict=True):
        assert serdes[name].decode(msg) == SAMPLES[name]()


def test_evolution_both_ways_through_the_broker(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    v1 = SchemaStore.default().current(c.FRAME_EVENT).source
    v2 = evolved(v1)
    old, new = SchemaStore(), SchemaStore()
    old.add(v2, current=False)
    old.add(v1)
    new.add(v1, current=False)
    new.add(v2)
    old_serde, new_serde = (
        SingleObjectSerde(old, c.FRAME_EVENT),
        SingleObjectSerde(new, c.FRAME_EVENT),
    )

    produce_all(
        settings,
        topic,
        [
            old_serde.serialize(frame_event(1), topic=topic),
            new_serde.serialize({**frame_event(2), "lens": "tele"}, topic=topic),
        ],
    )
    from_old, from_new = consume_all(settings, topic, 2)
    assert new_serde.decode(from_old) == {**frame_event(1), "lens": None}
    assert old_serde.decode(from_new) == frame_event(2)
    assert new_serde.decode(from_new) == {**frame_event(2), "lens": "tele"}


def test_bad_payloads_from_the_broker_name_their_offsets(
    settings: VigilSettings, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    serde = c.make_serde(settings, c.FRAME_EVENT)
    good = serde.serialize(frame_event(), topic=topic)
    bad = [good[:-5], b"\xc3\x01" + b"\x00" * 8 + good[10:], b"\x89PNG random bytes"]
    produce_all(settings, topic, [good, *bad, good])

    msgs = consume_all(settings, topic, 5)
    assert [m.offset() for m in msgs] == [0, 1, 2, 3, 4]
    decoded, errors = [], []
    for msg in msgs:
        try:
            decoded.append(serde.decode(msg))
        except SerdeError as exc:
            errors.append(exc)
    assert decoded == [frame_event(), frame_event()]  # the partition keeps flowing past bad input
    assert [(e.topic, e.partition, e.offset) for e in errors] == [
        (topic, 0, 1),
        (topic, 0, 2),
        (topic, 0, 3),
    ]
    assert "unknown writer schema fingerprint" in errors[1].reason


@pytest.mark.parametrize("name", [c.DETECTION_EVENT])
def test_large_batch_keeps_order(
    settings: VigilSettings, new_topic: Callable[..., str], name: str
) -> None:
    topic = new_topic()
    serde = c.make_serde(settings, name)
    records = []
    for i in range(500):
        rec = SAMPLES[name]()
        rec["sequence"] = i
        records.append(rec)
    produce_all(settings, topic, [serde.serialize(r, topic=topic) for r in records])
    got = [serde.decode(m) for m in consume_all(settings, topic, 500)]
    assert [r["sequence"] for r in got] == list(range(500))
