"""Bring a detections topic into ClickHouse through the exactly-once sink and stop when it
has caught up (``vigil replay --sink``, the demo, the tests). The sink resumes from what
ClickHouse holds, so running this twice writes nothing twice."""

from __future__ import annotations

import threading
import time
import uuid

from connectors.sinks.clickhouse.sink import ClickHouseSink, SinkStats
from vigil import kafka
from vigil.clickhouse import ClickHouseClient
from vigil.settings import VigilSettings
from vigil.topics import Topic


def sink_detections(
    settings: VigilSettings, client: ClickHouseClient, timeout_s: float = 300.0
) -> SinkStats:
    """Sink ``settings``' detections topic up to its current end."""
    topic = Topic.DETECTIONS.name_in(settings.topics)
    probe = kafka.consumer(settings, f"vigil-eval-probe-{uuid.uuid4().hex[:8]}")
    try:
        ends = {(tp.topic, tp.partition): tp.offset for tp in kafka.end_offsets(probe, topic)}
    finally:
        probe.close()
    sink = ClickHouseSink(settings, client, topics=[Topic.DETECTIONS])
    sink.prepare()
    stop = threading.Event()
    deadline = time.monotonic() + timeout_s

    def caught_up() -> None:
        at = sink.positions()
        done = all(at.get(k, 0) >= end for k, end in ends.items() if end > 0)
        if (sink.idle and len(at) == len(ends) and done) or time.monotonic() > deadline:
            stop.set()

    stats = sink.run(stop, idle=caught_up)
    if time.monotonic() > deadline:
        raise TimeoutError(f"the ClickHouse sink did not catch up with {topic} in {timeout_s}s")
    return stats
