"""Dead-lettering keeps the original bytes and key, and says why."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import TopicPartition

from schemas import contracts as c
from vigil import kafka
from vigil.dlq import dead_letter, read_envelope
from vigil_app.settings import VigilSettings


def test_dead_letter_round_trip(settings: VigilSettings, new_topic: Callable[..., str]) -> None:
    source, dlq = new_topic(), new_topic()
    prod = kafka.producer(settings)
    garbage = b"\x00\x01not avro\xff" * 10
    prod.produce(source, garbage, key=b"cam-7", headers=[("trace", b"abc")])
    prod.flush(10)

    cons = kafka.consumer(settings, f"g-{source}")
    cons.assign([TopicPartition(source, 0, 0)])
    msg = next(m for _ in range(20) for m in cons.consume(1, timeout=1.0) if m.error() is None)
    serde = c.make_serde(settings, c.FRAME_EVENT)
    try:
        serde.decode(msg)
        raise AssertionError("garbage decoded")
    except ValueError as exc:
        dead_letter(prod, dlq, msg, exc, component="test-worker")
    assert prod.flush(10) == 0
    cons.close()

    reader = kafka.consumer(settings, f"g-{dlq}")
    reader.assign([TopicPartition(dlq, 0, 0)])
    out = next(m for _ in range(20) for m in reader.consume(1, timeout=1.0) if m.error() is None)
    reader.close()
    assert out.value() == garbage
    assert out.key() == b"cam-7"
    assert ("trace", b"abc") in (out.headers() or [])
    env = read_envelope(out)
    assert env["source_topic"] == source
    assert (env["source_partition"], env["source_offset"]) == (0, 0)
    assert env["error_class"] == "SerdeError"
    assert "missing C3 01" in env["error_message"]
    assert env["component"] == "test-worker"
    # the envelope is a valid DlqEnvelope record
    envelope_serde = c.make_serde(settings, c.DLQ_ENVELOPE)
    assert envelope_serde.deserialize(envelope_serde.serialize(env, topic=dlq), topic=dlq) == env
