"""A pinned baseline reads read_committed: detections of an aborted transaction are not part
of it, and a topic written in transactions (ending in a marker) is read to its end."""

from __future__ import annotations

from typing import Any

from schemas.contracts import serde_for
from streams.drift.baseline import compute
from streams.drift.window import add_event, empty
from tests.streams.drift import helpers as h
from vigil.testing import write_aborted, write_committed
from vigil.testing.samples import detection_event
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def _event(ts: int, version: str, brightness: float) -> dict[str, Any]:
    e = detection_event()
    e.update(camera_id="cam-b", capture_ts_ms=ts, frame_id=f"cam-b-{ts}", model_version=version)
    e["image_stats"] = {**e["image_stats"], "brightness": brightness}
    return e


def test_aborted_detections_are_not_part_of_a_pinned_baseline(settings: VigilSettings) -> None:
    h.make_topics(settings)
    topic = Topic.DETECTIONS.name_in(settings.topics)
    serde = serde_for(settings, Topic.DETECTIONS)

    def records(events: list[dict[str, Any]]) -> list[tuple[str, bytes | None]]:
        return [("cam-b", serde.serialize(e, topic=topic)) for e in events]

    committed = [_event(ts, "v1", 0.25) for ts in range(1000, 5000, 1000)]
    write_aborted(settings, topic, records([_event(ts, "v1", 0.9) for ts in (1500, 2500, 3500)]))
    write_aborted(settings, topic, records([_event(ts, "v3", 0.5) for ts in (1000, 2000)]))
    write_committed(settings, topic, records(committed))
    write_aborted(settings, topic, records([_event(4500, "v1", 0.9)]))  # the partition's end

    (baseline,) = compute(settings, "cam-b", 1000, 10_000, timeout_s=30)

    expected = empty()
    for event in committed:
        add_event(expected, event, dark_brightness=settings.drift.dark_brightness)
    assert (baseline.model_version, baseline.from_ms, baseline.to_ms) == ("v1", 1000, 10_000)
    assert baseline.summary["frames"] == 4
    assert baseline.summary == expected
