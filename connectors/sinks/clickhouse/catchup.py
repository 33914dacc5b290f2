"""Run the exactly-once sink until it holds everything its topics held when it started, then
stop (``make demo``, ``vigil replay --sink``, the dashboard demo, tests). The sink resumes from
what ClickHouse holds, so running this twice writes nothing twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

from connectors.sinks.clickhouse.settings import SinkProcessSettings
from connectors.sinks.clickhouse.sink import ClickHouseSink, SinkStats
from vigil import kafka
from vigil.clickhouse import ClickHouseClient
from vigil.topics import Topic


def sink_until_caught_up(
    settings: SinkProcessSettings,
    client: ClickHouseClient,
    topics: Sequence[Topic] = (Topic.DETECTIONS,),
    timeout_s: float = 300.0,
) -> SinkStats:
    """Sink ``topics`` up to their end offsets as of now; TimeoutError after ``timeout_s``."""
    probe = kafka.consumer(settings, f"vigil-sink-probe-{uuid.uuid4().hex[:8]}")
    try:
        ends = {
            (tp.topic, tp.partition): tp.offset
            for t in topics
            for tp in kafka.end_offsets(probe, t.name_in(settings.topics))
        }
    finally:
        probe.close()
    sink = ClickHouseSink(settings, client, topics=list(topics))
    sink.prepare()
    stop = threading.Event()
    deadline = time.monotonic() + timeout_s

    def caught_up() -> None:
        at = sink.positions()
        done = all(at.get(k, 0) >= end for k, end in ends.items() if end > 0)
        if (sink.idle and done) or time.monotonic() > deadline:
            stop.set()

    stats = sink.run(stop, idle=caught_up)
    if time.monotonic() > deadline:
        names = ", ".join(t.name_in(settings.topics) for t in topics)
        raise TimeoutError(f"the ClickHouse sink did not catch up with {names} in {timeout_s}s")
    return stats
