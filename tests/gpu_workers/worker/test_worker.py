"""The worker against the real broker and the real default detector (SSD-MobileNet v2)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import (
    bikes_jpegs,
    detections,
    frame_event,
    produce_frames,
    provision,
)
from vigil.settings import TopicSettings, VigilSettings


def test_n_frames_in_n_detection_events_out_in_camera_order(
    settings: VigilSettings, run_worker: Any
) -> None:
    s = worker_settings(
        settings.model_copy(
            update={"topics": TopicSettings(prefix=settings.topics.prefix, frames_partitions=2)}
        ),
        "ssd_mobilenet_v2_coco",
        max_wait_ms=50,
    )
    provision(s)
    jpegs = bikes_jpegs(30, (320, 136), step=8)
    events = [frame_event(f"cam{i % 3}", i // 3, jpeg) for i, jpeg in enumerate(jpegs)]
    produce_frames(s, events)
    run_worker(s)
    out = detections(s, len(events))
    assert sorted(d["frame_id"] for d in out) == sorted(e["frame_id"] for e in events)
    per_camera: dict[str, list[int]] = defaultdict(list)
    for d in out:
        per_camera[d["camera_id"]].append(d["sequence"])
    assert all(seqs == sorted(seqs) for seqs in per_camera.values())
    assert {len(v) for v in per_camera.values()} == {10}
    first = out[0]
    assert first["model_name"] == "ssd_mobilenet_v2_coco"
    assert "+" in first["model_version"]
    assert (first["frame_width"], first["frame_height"]) == (320, 136)
    assert 0 < first["image_stats"]["brightness"] < 1
    assert first["image_stats"]["sharpness"] > 0
    assert first["image_stats"]["dhash"] is not None
    # bikes.mp4 shows cyclists and cars: the real detector finds them
    labels = [det["label"] for d in out for det in d["detections"]]
    assert labels.count("person") >= 5
    assert "car" in labels
