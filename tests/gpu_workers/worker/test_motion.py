"""The motion gate's pure logic, no broker: the measure, what is carried and when a frame is
detected, its state across failed calls and resets, and its settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pytest
from pydantic import ValidationError

from gpu_workers.settings import MotionSettings
from gpu_workers.worker.gate import MotionGate
from gpu_workers.worker.inference import Item
from gpu_workers.worker.intake import Decoded
from gpu_workers.worker.motion import MotionModel, grey_copy
from schemas.types import DetectionEvent, FrameEvent
from vigil.images import ImageHeader
from vigil.imagestats import image_stats
from vigil.testing import frame_event

BASE_MS = 1_800_000_000_000
MODEL = MotionModel(threshold=25, min_area=0.002, learning_rate=0.05)


def scene(seed: int = 0) -> np.ndarray[Any, np.dtype[np.uint8]]:
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (120, 160, 3), dtype=np.uint8)


def with_box(image: np.ndarray[Any, Any], x: int, size: int = 30) -> np.ndarray[Any, Any]:
    out = image.copy()
    out[40 : 40 + size, x : x + size] = 255
    return out


def item(
    seq: int,
    image: np.ndarray[Any, Any],
    camera: str = "cam",
    kind: str = "CAMERA",
    step_ms: int = 40,
    **fields: Any,
) -> Item:
    ev = frame_event(
        camera, seq, b"", capture_ts_ms=BASE_MS + seq * step_ms, source_kind=kind, **fields
    )
    header = ImageHeader("JPEG", image.shape[1], image.shape[0])
    return Item(cast(FrameEvent, ev), Decoded(image, header, 1), image_stats(image))


class Detector:
    """Stands in for ``Inference.run``: one person per frame, its box from the sequence."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False

    def __call__(self, items: Sequence[Item]) -> list[DetectionEvent]:
        self.calls.append([i.event["frame_id"] for i in items])
        if self.fail:
            raise RuntimeError("model failed")
        out: list[DetectionEvent] = []
        for i in items:
            ev = i.event
            x = (ev["sequence"] % 10) / 20
            box = {"x_min": x, "y_min": 0.1, "x_max": x + 0.3, "y_max": 0.9}
            det = {"label": "person", "class_id": 1, "score": 0.9, "box": box}
            out.append(
                cast(
                    DetectionEvent,
                    {
                        "frame_id": ev["frame_id"],
                        "camera_id": ev["camera_id"],
                        "sequence": ev["sequence"],
                        "capture_ts_ms": ev["capture_ts_ms"],
                        "inference_ts_ms": 0,
                        "model_name": "m",
                        "model_version": "1",
                        "frame_width": i.decoded.header.width,
                        "frame_height": i.decoded.header.height,
                        "detections": [{**det, "embedding": None, "track_id": None}],
                        "image_stats": i.stats,
                        "faces_searched": False,
                        "carried_from": None,
                    },
                )
            )
        return out


def detected(events: Sequence[DetectionEvent]) -> list[str]:
    return [e["frame_id"] for e in events if e["carried_from"] is None]


# -- the measure --------------------------------------------------------------------------------


def test_a_still_scene_is_no_motion_a_moving_object_is_and_specks_are_noise() -> None:
    base = scene()
    _, bg = MODEL.measure(None, grey_copy(base, 160))
    noisy = np.clip(base.astype(int) + np.random.default_rng(1).normal(0, 2, base.shape), 0, 255)
    still, _ = MODEL.measure(bg, grey_copy(noisy.astype(np.uint8), 160))
    assert not still.moved
    moved, _ = MODEL.measure(bg, grey_copy(with_box(base, 50), 160))
    assert moved.moved
    assert 0.02 < moved.fraction < 0.1  # a 30x30 box of 160x120
    speck = base.copy()
    speck[10, 10] = 255  # one hot pixel: removed by the opening
    assert not MODEL.measure(bg, grey_copy(speck, 160))[0].moved


def test_the_background_is_a_new_array_and_a_new_size_is_motion() -> None:
    grey = grey_copy(scene(), 160)
    first, bg = MODEL.measure(None, grey)
    assert first.moved
    assert first.fraction == 1.0
    copy = bg.copy()
    MODEL.measure(bg, grey_copy(with_box(scene(), 50), 160))
    assert np.array_equal(bg, copy)  # untouched: the caller keeps it or not
    assert MODEL.measure(bg, grey_copy(scene()[:60], 160))[0].moved


def test_motion_inside_a_mask_polygon_does_not_count() -> None:
    tree = ((0.2, 0.2), (0.6, 0.2), (0.6, 0.7), (0.2, 0.7))  # the box's place (x 50..80)
    masked = MotionModel(25, 0.002, 0.05, masks=(tree,))
    base = scene()
    _, bg = masked.measure(None, grey_copy(base, 160))
    assert not masked.measure(bg, grey_copy(with_box(base, 50), 160))[0].moved
    assert masked.measure(bg, grey_copy(with_box(base, 120), 160))[0].moved  # outside it


def test_the_grey_copy_is_downscaled_never_enlarged() -> None:
    assert grey_copy(np.zeros((272, 640, 3), np.uint8), 160).shape == (68, 160)
    assert grey_copy(np.zeros((40, 64), np.uint8), 160).shape == (40, 64)


# -- the gate -----------------------------------------------------------------------------------


def test_a_still_camera_is_carried_until_motion_or_max_skip() -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    base = scene()
    frames = [item(i, base) for i in range(80)]  # 40 ms apart: 2 s is 50 frames
    frames[20] = item(20, with_box(base, 50))  # someone steps in
    out = []
    for i in range(0, 80, 8):
        out.extend(gate.run(frames[i : i + 8], detector))
    assert [e["frame_id"] for e in out] == [f"cam-{i}" for i in range(80)]
    # 0: first; 20: motion; 21: the box left (unlike cam-20's frame); 71: 2 s after cam-21
    assert detected(out) == ["cam-0", "cam-20", "cam-21", "cam-71"]
    assert (gate.inferred, gate.carried) == (4, 76)
    carried = out[5]
    assert carried["carried_from"] == "cam-0"
    assert carried["detections"] == out[0]["detections"]
    assert (carried["sequence"], carried["capture_ts_ms"]) == (5, BASE_MS + 200)
    assert carried["image_stats"] == frames[5].stats
    assert carried["faces_searched"] is False
    later = [e for e in out[22:50] if e["carried_from"] is not None]
    assert later
    assert {e["carried_from"] for e in later} <= set(detected(out))
    # never carried over max_skip_s of capture time
    by_id = {e["frame_id"]: e for e in out}
    for e in out:
        if e["carried_from"] is not None:
            gap = e["capture_ts_ms"] - by_id[e["carried_from"]]["capture_ts_ms"]
            assert 0 < gap < 2000


def test_a_frame_carries_from_a_detection_earlier_in_its_own_batch() -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    out = gate.run([item(i, scene()) for i in range(4)], detector)
    assert detector.calls == [["cam-0"]]
    assert [e["carried_from"] for e in out] == [None, "cam-0", "cam-0", "cam-0"]


@pytest.mark.parametrize("kind", ["UPLOAD", "REPLAY", "SYNTHETIC", "UNKNOWN"])
def test_uploads_replays_synthetic_and_unknown_frames_are_never_gated(kind: str) -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    out = gate.run([item(i, scene(), kind=kind) for i in range(5)], detector)
    assert detected(out) == [f"cam-{i}" for i in range(5)]
    assert gate.inferred == gate.carried == 0  # not counted: only gated cameras are


def test_face_cameras_and_frames_tagged_for_faces_are_always_detected() -> None:
    gate, detector = MotionGate(MotionSettings(), face_cameras=("poi",)), Detector()
    poi = gate.run([item(i, scene(), camera="poi") for i in range(4)], detector)
    assert len(detected(poi)) == 4
    frames = [item(0, scene()), item(1, scene(), tags={"faces": "1"}), item(2, scene())]
    out = gate.run(frames, detector)
    assert [e["carried_from"] for e in out] == [None, None, "cam-0"]  # never from cam-1


def test_a_failed_call_keeps_the_state_and_reset_forgets_every_camera() -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    gate.run([item(0, scene())], detector)
    detector.fail = True
    with pytest.raises(RuntimeError):
        gate.run([item(1, with_box(scene(), 50)), item(2, scene())], detector)
    detector.fail = False
    # run_isolating re-runs the halves from the same state: cam-1 still moves against cam-0
    assert detected(gate.run([item(1, with_box(scene(), 50))], detector)) == ["cam-1"]
    # the box left: the background barely learnt it, the last detection's frame shows it
    assert detected(gate.run([item(2, scene())], detector)) == ["cam-2"]
    assert gate.run([item(3, scene())], detector)[0]["carried_from"] == "cam-2"
    gate.reset()
    assert detected(gate.run([item(4, scene())], detector)) == ["cam-4"]


def test_a_sequence_that_does_not_advance_is_detected_and_starts_again() -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    gate.run([item(5, scene()), item(6, scene())], detector)
    out = gate.run([item(3, scene()), item(4, scene())], detector)  # a re-run, or a restart
    assert [e["carried_from"] for e in out] == [None, "cam-3"]


def test_capture_time_going_back_forces_a_detection() -> None:
    gate, detector = MotionGate(MotionSettings()), Detector()
    out = gate.run([item(0, scene()), item(1, scene(), step_ms=-1000)], detector)
    assert detected(out) == ["cam-0", "cam-1"]


def test_per_camera_overrides_and_the_master_switch() -> None:
    settings = MotionSettings(cameras={"lobby": {"enabled": False}, "yard": {"max_skip_s": 0}})
    gate, detector = MotionGate(settings), Detector()
    for camera in ("lobby", "yard"):
        out = gate.run([item(i, scene(), camera=camera) for i in range(3)], detector)
        assert len(detected(out)) == 3, camera
    off = MotionGate(MotionSettings(enabled=False, cameras={"cam": {"enabled": True}}))
    assert len(detected(off.run([item(i, scene()) for i in range(3)], detector))) == 3


def test_motion_settings_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="at least 3 points"):
        MotionSettings(cameras={"c": {"masks": [[(0, 0), (1, 1)]]}})
    with pytest.raises(ValidationError, match="outside the frame"):
        MotionSettings(cameras={"c": {"masks": [[(0, 0), (1, 0), (2, 1)]]}})
    with pytest.raises(ValidationError, match="REPLAY is never gated"):
        MotionSettings(source_kinds=("CAMERA", "REPLAY"))
    with pytest.raises(ValidationError, match="Extra inputs"):
        MotionSettings(cameras={"c": {"treshold": 3}})
    with pytest.raises(ValidationError):
        MotionSettings(source_kinds=("WEBCAM",))
