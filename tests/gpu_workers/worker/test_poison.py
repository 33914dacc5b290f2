"""A poison corpus mixed into good frames: each bad record lands in the DLQ with its reason and
its original bytes; every good frame still gets its DetectionEvent."""

from __future__ import annotations

import io
import os
from typing import Any

from PIL import Image

from schemas.contracts import serde_for
from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections, read_topic
from tests.vigil.test_images import jpeg_declaring
from vigil.dlq import read_envelope
from vigil.testing import bikes_jpegs, frame_event, produce_frames, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(out, format="PNG")
    return out.getvalue()


def test_poison_corpus_goes_to_the_dlq_and_good_frames_flow(
    settings: VigilSettings, tiny_model: str, run_worker: Any
) -> None:
    s = worker_settings(settings, tiny_model, max_wait_ms=10)
    provision(s)
    good = bikes_jpegs(40, (160, 120), step=3)
    truncated = good[0][: len(good[0]) // 2]
    poison = {
        "bad-empty": (frame_event("bad", 0, b"", frame_id="bad-empty"), "empty_image"),
        "bad-trunc": (frame_event("bad", 1, truncated, frame_id="bad-trunc"), "truncated_image"),
        "bad-png": (frame_event("bad", 2, png_bytes(), frame_id="bad-png"), "format_mismatch"),
        "bad-bomb": (
            frame_event("bad", 3, jpeg_declaring(30000, 30000), frame_id="bad-bomb"),
            "too_many_pixels",
        ),
        "bad-claim": (
            frame_event(
                "bad",
                4,
                b"",
                image=None,
                image_uri="file:///nonexistent/x.jpg",
                frame_id="bad-claim",
            ),
            "claim_check_unresolvable",
        ),
    }
    random_value = os.urandom(200)
    events = []
    bad = list(poison.values())
    for i, jpeg in enumerate(good):
        events.append(frame_event(f"cam{i % 2}", i // 2, jpeg))
        if i % 8 == 3 and bad:
            events.append(bad.pop(0)[0])
    produce_frames(s, events, raw=[random_value])
    frames_topic = Topic.FRAMES.name_in(s.topics)
    serde = serde_for(s, Topic.FRAMES)
    run_worker(s)

    out = detections(s, len(good))
    assert sorted(d["frame_id"] for d in out) == sorted(f"cam{i % 2}-{i // 2}" for i in range(40))
    assert all(len(d["detections"]) == 2 for d in out)  # the tiny model's two known boxes

    dlq = [read_envelope(m) for m in read_topic(s, Topic.DLQ.name_in(s.topics), len(poison) + 1)]
    assert len(dlq) == len(poison) + 1
    by_value = {bytes(e["value"]): e for e in dlq}
    for frame_id, (event, reason) in poison.items():
        env = by_value[serde.serialize(event, topic=frames_topic)]  # original bytes, untouched
        assert env["error_message"].startswith(reason), (frame_id, env["error_message"])
        assert env["source_topic"] == frames_topic
        assert env["component"] == "worker"
        assert env["key"] == b"bad"
    raw = by_value[random_value]
    assert raw["error_message"].startswith("avro_undecodable")
    assert raw["key"] == b"raw"
