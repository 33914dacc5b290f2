"""The dashboard's live tail reads read_committed: frames, detections and alerts of an aborted
transaction never reach the live state nor the server-sent alert feed."""

from __future__ import annotations

import asyncio
from typing import Any

from dashboards.web.live import LiveState
from schemas.contracts import serde_for
from tests.dashboards.web.test_live import frame
from vigil import kafka
from vigil.testing import samples, wait_until, write_aborted, write_committed
from vigil.topics import Topic, ensure_topics, topic_specs
from vigil_app.settings import VigilSettings

CAMERA = "gate"  # one key: every record of a topic in one partition, in the order written


def alert(alert_id: str, frame_id: str) -> dict[str, Any]:
    return {**samples.alert(), "camera_id": CAMERA, "frame_id": frame_id, "alert_id": alert_id}


def detection(frame_id: str) -> dict[str, Any]:
    return {**samples.detection_event(), "camera_id": CAMERA, "frame_id": frame_id}


def write(settings: VigilSettings, seq: int, *, commit: bool) -> str:
    """A frame, its detections and an alert on it, each in a transaction; the frame id."""
    frame_id = f"{CAMERA}-{seq}"
    records = {
        Topic.FRAMES: frame(CAMERA, seq, 1_000_000 + seq * 200),
        Topic.DETECTIONS: detection(frame_id),
        Topic.ALERTS: alert(f"alert-{seq}", frame_id),
    }
    for topic, record in records.items():
        name = topic.name_in(settings.topics)
        value = serde_for(settings, topic).serialize(record, topic=name)
        (write_committed if commit else write_aborted)(settings, name, [(CAMERA, value)])
    return frame_id


def test_aborted_records_never_reach_the_live_state_or_the_alert_feed(
    settings: VigilSettings,
) -> None:
    ensure_topics(kafka.admin(settings), topic_specs(settings.topics))
    write(settings, 1, commit=False)
    write(settings, 2, commit=True)
    write(settings, 3, commit=False)  # at the end of every partition the tail reads
    live = LiveState(settings).start()
    try:
        assert live.caught_up.wait(60)
        assert live.error is None
        assert list(live.frames) == ["gate-2"]
        assert list(live.detections) == ["gate-2"]
        assert [a["alert_id"] for a in live.recent_alerts()] == ["alert-2"]
        (row,) = live.camera_rows()
        assert (row["camera_id"], row["frame_id"]) == (CAMERA, "gate-2")

        async def follow() -> list[str]:
            queue = live.subscribe()
            write(settings, 4, commit=False)
            write(settings, 5, commit=True)
            # alert-4 sits before alert-5 in the partition: had it been read, it came first
            first = await asyncio.wait_for(queue.get(), 30)
            await asyncio.sleep(0)  # let any callback already scheduled land
            return [first["alert_id"]] + [
                queue.get_nowait()["alert_id"] for _ in range(queue.qsize())
            ]

        assert asyncio.run(follow()) == ["alert-5"]
        wait_until(lambda: "gate-5" in live.frames, 30, "frame gate-5 in the live state")
        wait_until(lambda: "gate-5" in live.detections, 30, "detections of gate-5")
        assert list(live.frames) == ["gate-2", "gate-5"]
        assert list(live.detections) == ["gate-2", "gate-5"]
        assert [a["alert_id"] for a in live.recent_alerts()] == ["alert-5", "alert-2"]
    finally:
        live.stop()
