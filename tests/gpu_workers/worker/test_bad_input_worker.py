"""The bad-input corpus straight into ``vigil.frames`` (no API in front), on the real broker:
awkward but valid images all get their DetectionEvent (upright, right size), out-of-contract
fields go to the DLQ with the reason, duplicates are both processed, and a frame that makes
inference raise is found by splitting its batch, dead-lettered alone, and the worker goes on."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import cv2
from prometheus_client import REGISTRY

from gpu_workers.settings import MotionSettings
from gpu_workers.worker.inference import Inference, Item
from gpu_workers.worker.loop import Worker
from schemas.types import DetectionEvent
from tests import corpus
from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections, read_topic
from vigil.dlq import read_envelope
from vigil.testing import frame_event, produce_frames, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def dlq(settings: VigilSettings, expected: int) -> dict[bytes, dict[str, Any]]:
    """DLQ envelopes by key."""
    msgs = read_topic(settings, Topic.DLQ.name_in(settings.topics), expected)
    return {bytes(e["key"]): e for e in (read_envelope(m) for m in msgs)}


def test_corpus_straight_into_frames(
    settings: VigilSettings, tiny_model: str, run_worker: Any
) -> None:
    s = worker_settings(settings, tiny_model, max_wait_ms=10)
    provision(s)
    good: dict[str, tuple[bytes, str]] = {
        **{f"o{o}": (corpus.oriented(o), "JPEG") for o in range(1, 9)},
        "o6-png": (corpus.oriented(6, "PNG"), "PNG"),
        "motion": (corpus.motion_photo(), "JPEG"),
        "cmyk": (corpus.cmyk_jpeg(), "JPEG"),
        "progressive": (corpus.progressive_jpeg(), "JPEG"),
        "palette": (corpus.palette_png(), "PNG"),
        "alpha": (corpus.alpha_png(), "PNG"),
        "animated": (corpus.animated_webp(), "WEBP"),
        "png16": (corpus.png16_grey(), "PNG"),
        "thin-v": (corpus.thin(1, 2000), "JPEG"),  # letterboxed by the tiny model: 0 px wide
        "thin-h": (corpus.thin(2000, 1), "JPEG"),
        "thin-png": (corpus.thin(1, 2000, "PNG"), "PNG"),
    }
    events = [
        frame_event("cam", i, data, frame_id=name, encoding=enc)
        for i, (name, (data, enc)) in enumerate(good.items())
    ]
    jpeg = corpus.solid()
    # the same frame id twice (a producer's retry, a replayed upload): both are processed;
    # the DetectionEvents share (frame id, model version), which is what consumers dedupe on
    events += [
        frame_event("cam", 100, jpeg, frame_id="dup"),
        frame_event("cam", 101, jpeg, frame_id="dup"),
    ]
    bad = {
        b"bad-tags": ("too_many_tags", {"tags": {f"k{i}": "v" for i in range(10_000)}}),
        b"bad-tagbytes": ("tags_too_large", {"tags": {f"k{i}": "v" * 10_240 for i in range(20)}}),
        b"kamera-z\xc3\xbcrich": ("invalid_camera_id", {}),
        b"c" * 10_240: ("invalid_camera_id", {}),
    }
    for i, (camera, (_, fields)) in enumerate(bad.items()):
        events.append(frame_event(camera.decode(), 200 + i, jpeg, **fields))
    produce_frames(s, events)
    run_worker(s)

    out = detections(s, len(good) + 2)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for d in out:
        by_id.setdefault(d["frame_id"], []).append(d)
    assert set(by_id) == {*good, "dup"}  # every good frame, nothing of the bad ones
    assert len(by_id["dup"]) == 2
    assert len({(d["frame_id"], d["model_version"]) for d in by_id["dup"]}) == 1
    for name in good:
        [d] = by_id[name]
        assert len(d["detections"]) == 2, name  # the tiny model's two boxes, finite
    for o in range(1, 9):  # upright: the landscape size and the upright scene's dhash
        [d] = by_id[f"o{o}"]
        assert (d["frame_width"], d["frame_height"]) == corpus.UPRIGHT_SIZE, o
        assert d["image_stats"]["dhash"] == corpus.UPRIGHT_DHASH, o
    assert by_id["o6-png"][0]["image_stats"]["dhash"] == corpus.UPRIGHT_DHASH
    assert 0.4 < by_id["png16"][0]["image_stats"]["brightness"] < 0.6  # not near-white
    assert (by_id["thin-v"][0]["frame_width"], by_id["thin-v"][0]["frame_height"]) == (1, 2000)

    dead = dlq(s, len(bad))
    assert set(dead) == set(bad)
    for key, (reason, _) in bad.items():
        assert dead[key]["error_message"].startswith(reason), (key[:20], dead[key])
        assert dead[key]["component"] == "worker"


class Exploding(Inference):
    """The real detector, but a frame tagged ``explode`` makes OpenCV raise inside the batch
    (``cv2.error``, as the letterbox of a 1 x 2000 frame once did)."""

    def __init__(self, settings: VigilSettings) -> None:
        super().__init__(settings)
        self.calls: list[list[str]] = []

    def run(self, items: Sequence[Item]) -> list[DetectionEvent]:
        self.calls.append([i.event["frame_id"] for i in items])
        for item in items:
            if item.event["tags"].get("explode"):
                cv2.resize(item.decoded.image, (0, 0))  # cv2.error: a 0-pixel target
        return super().run(items)


def dlq_count(reason: str) -> float:
    return REGISTRY.get_sample_value("vigil_worker_dlq_total", {"reason": reason}) or 0.0


def test_an_exception_in_inference_dead_letters_that_frame_and_the_worker_goes_on(
    settings: VigilSettings, tiny_model: str
) -> None:
    # the same still frame each time: the motion gate would carry the bad one past the model
    s = worker_settings(settings, tiny_model, max_wait_ms=200, motion=MotionSettings(enabled=False))
    provision(s)
    jpeg = corpus.solid()

    def batch(start: int, bad: int) -> list[dict[str, Any]]:
        return [
            frame_event("cam", i, jpeg, tags={"explode": "1"} if i == bad else {})
            for i in range(start, start + 8)
        ]

    produce_frames(s, batch(0, bad=3))
    before = dlq_count("inference_failed")
    inference = Exploding(s)
    worker = Worker(s, inference=inference, instance="w-explode")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        first = detections(s, 7)
        assert sorted(d["frame_id"] for d in first) == sorted(
            f"cam-{i}" for i in range(8) if i != 3
        )
        produce_frames(s, batch(8, bad=13))  # later frames, one bad again: still going
        out = detections(s, 14)
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(60)
    ids = [d["frame_id"] for d in out]
    assert sorted(ids) == sorted(f"cam-{i}" for i in range(16) if i not in (3, 13))  # once each
    dead = [read_envelope(m) for m in read_topic(s, Topic.DLQ.name_in(s.topics), 2)]
    frames_serde_value = {bytes(e["value"]) for e in dead}
    assert len(dead) == 2
    assert len(frames_serde_value) == 2
    for env in dead:
        assert env["error_class"] == "Rejected"
        assert env["error_message"].startswith("inference_failed: error: ")  # cv2.error
        assert env["source_topic"] == Topic.FRAMES.name_in(s.topics)
    assert sorted(e["source_offset"] for e in dead) == [3, 13]
    assert ["cam-3"] in inference.calls  # isolated by splitting, then run alone
    assert ["cam-13"] in inference.calls
    assert dlq_count("inference_failed") - before == 2
