"""The sink reads read_committed: detections of an aborted transaction never become rows."""

from __future__ import annotations

import pytest

from connectors.sinks.clickhouse.catchup import sink_until_caught_up
from schemas.contracts import serde_for
from tests.connectors.sinks.clickhouse.support import detection_event, now_ms, open_client
from vigil.testing import write_aborted, write_committed
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


@pytest.mark.parametrize("sink_settings", ["chdb"], indirect=True)
def test_aborted_detections_never_become_rows(sink_settings: VigilSettings) -> None:
    topic = Topic.DETECTIONS.name_in(sink_settings.topics)
    serde = serde_for(sink_settings, Topic.DETECTIONS)
    base = now_ms()

    def events(camera: str, seqs: range) -> list[tuple[str, bytes | None]]:
        return [
            (camera, serde.serialize(detection_event(s, camera, 2, base + s), topic=topic))
            for s in seqs
        ]

    # cam-a: aborted, committed, aborted again at the partition's end; cam-b: aborted only
    aborted = write_aborted(sink_settings, topic, events("cam-a", range(0, 3)))
    aborted += write_aborted(sink_settings, topic, events("cam-b", range(0, 2)))
    committed = write_committed(sink_settings, topic, events("cam-a", range(10, 12)))
    aborted += write_aborted(sink_settings, topic, events("cam-a", range(20, 22)))
    assert (len(aborted), len(committed)) == (7, 2)

    client = open_client(sink_settings)
    try:
        stats = sink_until_caught_up(sink_settings, client, timeout_s=90)
        db = sink_settings.clickhouse.database
        frames = client.query(
            f"SELECT frame_id, kafka_partition, kafka_offset FROM {db}.frames ORDER BY frame_id"
        )
        objects = client.query(
            f"SELECT frame_id, count() FROM {db}.detections GROUP BY frame_id ORDER BY frame_id"
        )
    finally:
        client.close()

    assert stats.messages == 2
    assert stats.dead_letters == 0
    assert [(str(f), int(p), int(o)) for f, p, o in frames] == [
        ("cam-a-10", committed[0].partition, committed[0].offset),
        ("cam-a-11", committed[1].partition, committed[1].offset),
    ]
    assert [(str(f), int(n)) for f, n in objects] == [("cam-a-10", 2), ("cam-a-11", 2)]
