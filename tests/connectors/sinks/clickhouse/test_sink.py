"""Events in -> rows out, exactly once, on chDB and on the ClickHouse server (real Kafka)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from confluent_kafka import TopicPartition

from connectors.sinks.clickhouse.rows import COLUMNS, detection_rows
from connectors.sinks.clickhouse.sink import ClickHouseSink
from schemas.contracts import serde_for
from schemas.types import DetectionEvent
from tests.connectors.sinks.clickhouse.support import (
    DetectionProducer,
    assert_exactly_once,
    detection_event,
    group_committed,
    now_ms,
    open_client,
    run_sink_until,
)
from vigil import kafka
from vigil.dlq import read_envelope
from vigil.testing import samples
from vigil.topics import Topic, ensure_topics, topic_specs, wait_for_leaders
from vigil_app.settings import VigilSettings


def test_events_in_rows_out_exactly(
    sink_settings: VigilSettings, detections: DetectionProducer
) -> None:
    detections.send(1200)
    client = open_client(sink_settings)
    sink = ClickHouseSink(sink_settings, client)
    sink.prepare()
    run_sink_until(sink, lambda s: s.stats.messages >= detections.produced.frames)
    client.close()
    assert sink.stats.batches > 1
    assert_exactly_once(sink_settings, detections.produced, detections.topic)

    # A sink of another group (committed offsets: none) resumes from what ClickHouse holds:
    # it reads only the 50 new events, not the topic from its start.
    detections.send(50)
    other = sink_settings.model_copy(
        update={
            "clickhouse_sink": sink_settings.clickhouse_sink.model_copy(
                update={"group_id": "another-group"}
            )
        }
    )
    client = open_client(other)
    replay = ClickHouseSink(other, client)
    replay.prepare()
    run_sink_until(replay, lambda s: s.stats.messages >= 50)
    client.close()
    assert replay.stats.messages == 50
    assert_exactly_once(sink_settings, detections.produced, detections.topic)


def test_each_table_resumes_from_its_own_offset(
    sink_settings: VigilSettings, detections: DetectionProducer
) -> None:
    """A crash between the frames INSERT and the detections INSERT: frames hold more than
    detections. The sink must fill detections and not duplicate frames."""
    detections.send(300)
    topic = detections.topic
    db = sink_settings.clickhouse.database
    client = open_client(sink_settings)
    sink = ClickHouseSink(sink_settings, client)
    sink.prepare()
    # Simulate the crash: frames of offsets 0..49 of each partition, none of their detections.
    cons = kafka.consumer(sink_settings, "reader")
    cons.assign([TopicPartition(topic, p, 0) for p in range(4)])
    serde = serde_for(sink_settings, Topic.DETECTIONS)
    frames = []
    seen = 0
    while seen < 300:
        for msg in cons.consume(100, 1.0):
            seen += 1
            offset, partition = msg.offset() or 0, msg.partition() or 0
            if offset < 50:
                src = (topic, partition, offset)
                event = cast(DetectionEvent, serde.decode(msg))
                frames += detection_rows(event, src).rows["frames"]
    cons.close()
    client.insert(f"{db}.frames", [c for c, _ in COLUMNS["frames"]], frames)
    run_sink_until(sink, lambda s: s.stats.messages >= 300)
    client.close()
    assert_exactly_once(sink_settings, detections.produced, topic)


def test_malformed_events_go_to_the_dlq_and_the_sink_keeps_going(
    sink_settings: VigilSettings, detections: DetectionProducer
) -> None:
    detections.send(100)
    detections.raw(b"\x00\xffnot avro at all")
    bad_time = detection_event(10_000, "cam-bad", 1, -5)
    detections.raw(detections.serde.serialize(bad_time, topic=detections.topic), key="cam-bad")
    detections.send(100)
    client = open_client(sink_settings)
    sink = ClickHouseSink(sink_settings, client)
    sink.prepare()
    run_sink_until(sink, lambda s: s.stats.messages >= 202)
    client.close()
    assert sink.stats.dead_letters == 2
    assert_exactly_once(sink_settings, detections.produced, detections.topic)

    dlq = Topic.DLQ.name_in(sink_settings.topics)
    cons = kafka.consumer(sink_settings, "dlq-reader")
    cons.subscribe([dlq])
    envelopes: list[dict[str, Any]] = []
    while len(envelopes) < 2:
        envelopes += [read_envelope(m) for m in cons.consume(10, 2.0) if m.error() is None]
    cons.close()
    assert {e["error_class"] for e in envelopes} == {"SerdeError", "MalformedEvent"}
    assert {e["source_topic"] for e in envelopes} == {detections.topic}
    assert {e["component"] for e in envelopes} == {"clickhouse-sink"}
    assert b"\x00\xffnot avro at all" in {e["value"] for e in envelopes}
    assert any("capture_ts_ms=-5" in e["error_message"] for e in envelopes)


def test_alerts_and_drift_land_in_their_tables(sink_settings: VigilSettings) -> None:
    prod = kafka.producer(sink_settings)
    alerts, drift = (
        Topic.ALERTS.name_in(sink_settings.topics),
        Topic.DRIFT.name_in(sink_settings.topics),
    )
    alert_serde, drift_serde = (
        serde_for(sink_settings, Topic.ALERTS),
        serde_for(sink_settings, Topic.DRIFT),
    )
    ts = now_ms()
    for i in range(30):
        alert = {**samples.alert(), "alert_id": f"a-{i}", "alert_ts_ms": ts + i}
        kafka.produce(prod, alerts, alert_serde.serialize(alert, topic=alerts), key="cam-1")
    for i in range(20):
        stat = {**samples.drift_stat(), "window_start_ms": ts + i, "window_end_ms": ts + i + 1}
        kafka.produce(prod, drift, drift_serde.serialize(stat, topic=drift), key="cam-1")
    prod.flush(30)
    client = open_client(sink_settings)
    sink = ClickHouseSink(sink_settings, client)
    sink.prepare()
    run_sink_until(sink, lambda s: s.stats.messages >= 50)
    db = sink_settings.clickhouse.database
    assert client.query(f"SELECT count(), uniqExact(alert_id) FROM {db}.alerts") == [(30, 30)]
    assert client.query(
        f"SELECT count(), uniqExact(alert_id), min(poi_id), min(details) FROM {db}.alerts"
    ) == [(30, 30, "p-9", '{"zone": "lobby"}')]
    assert [
        tuple(int(v) for v in r)
        for r in client.query(
            f"SELECT count(), sum(alarm), uniqExact(window_start_ms) FROM {db}.drift"
        )
    ] == [(20, 20, 20)]
    client.close()


def test_an_undeliverable_dead_letter_stops_the_sink_before_any_commit(
    settings: VigilSettings,
) -> None:
    """Without a DLQ topic a bad record can go nowhere: the sink fails loudly and commits
    nothing past it, rather than drop it."""
    dlq = Topic.DLQ.name_in(settings.topics)
    admin = kafka.admin(settings)
    specs = [s for s in topic_specs(settings.topics) if s.name != dlq]
    ensure_topics(admin, specs)
    wait_for_leaders(admin, [s.name for s in specs])
    feed = DetectionProducer(settings)
    feed.send(20)
    feed.raw(b"garbage", key="cam-0")
    client = open_client(settings)
    sink = ClickHouseSink(settings, client, topics=[Topic.DETECTIONS])
    sink.prepare()
    with pytest.raises(RuntimeError, match="DLQ delivery failed"):
        run_sink_until(sink, lambda s: False, timeout_s=120)
    client.close()
    assert sink.stats.dead_letters == 1
    committed = group_committed(settings, feed.topic)
    assert sum(max(0, o) for o in committed.values()) < 21  # not past the bad record
