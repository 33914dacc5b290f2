"""The end of ``make demo``: detections sunk into embedded ClickHouse, named queries printed."""

from __future__ import annotations

from rich.console import Console

from tests.connectors.sinks.clickhouse.support import DetectionProducer, create_topics
from vigil_app.demo.sink import SHOWN, sink_and_show
from vigil_app.settings import VigilSettings


def test_sink_and_show_prints_named_queries(settings: VigilSettings) -> None:
    create_topics(settings)
    feed = DetectionProducer(settings)
    feed.send(120, cameras=3)
    console = Console(record=True, width=200)
    stats = sink_and_show(settings, console)
    assert stats.messages == 120
    assert stats.rows == feed.produced.frames + feed.produced.detections
    out = console.export_text()
    for name in SHOWN:
        assert f"vigil sql --query {name}" in out
    assert "cam-0" in out
    assert "cam-2" in out
