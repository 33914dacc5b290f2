"""Hot swap of the production detector in an in-process worker, on the real broker: a model
promoted mid-stream is switched in at a transaction boundary (every frame detected exactly
once, by the old model or the new, never old after new on a partition, the SWITCH event naming
where the new model began); a model that fails its checks is refused and the old one runs on."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpu_workers.worker.loop import Worker
from gpu_workers.worker.registered import SwapError, verified_spec
from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections
from tests.gpu_workers.worker.swapping import (
    assert_monotone,
    candidate,
    events_of,
    frame_offsets,
    promote,
    versions_by_partition,
)
from vigil import registry
from vigil.testing import (
    bikes_jpegs,
    frame_event,
    produce_frames,
    provision,
    read_topic,
    wait_until,
)
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

CAMERAS = 6


@pytest.fixture
def production() -> Iterator[Callable[..., Worker]]:
    """Start production workers (following the registry) in threads; stopped at the end."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(settings: VigilSettings, instance: str = "w0") -> Worker:
        worker = Worker(settings, instance=instance, follow_registry=True)
        thread = threading.Thread(target=worker.run, name=f"worker-{instance}", daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop()
        thread.join(60)


def _settings(settings: VigilSettings, detector: str, partitions: int = 2) -> VigilSettings:
    s = worker_settings(settings, detector, partitions=partitions, max_wait_ms=20)
    provision(s)
    return s


def _events(count: int, first: int = 0) -> list[dict[str, object]]:
    jpegs = bikes_jpegs(20, (160, 120), step=6)
    return [
        frame_event(f"cam{i % CAMERAS}", i // CAMERAS, jpegs[i % len(jpegs)])
        for i in range(first, first + count)
    ]


def test_promotion_mid_stream_switches_at_a_transaction_boundary(
    settings: VigilSettings, production: Callable[..., Worker], tmp_path: Path
) -> None:
    s = _settings(settings, "ssd_mobilenet_v2_coco")
    default = s.cache_dir / "models" / "ssd_mobilenet_v2_coco" / "spec.yaml"
    record = candidate(default, tmp_path / "cand", "2099_01_01", score_threshold=0.45)
    before, after = _events(90), _events(90, first=90)
    worker = production(s)
    old = worker.inference.detector.identity.event_version
    produce_frames(s, before[:60])
    wait_until(lambda: worker.committed_frames >= 30, 120, "old model's first frames")
    promote(s, record)  # while the first frames are still being worked through
    produce_frames(s, before[60:])
    wait_until(lambda: worker.swap is not None and worker.swap.switches == 1, 120, "the switch")
    produce_frames(s, after)
    events = before + after
    dets = detections(s, len(events))
    counts = Counter(d["frame_id"] for d in dets)
    assert set(counts) == {e["frame_id"] for e in events}
    assert max(counts.values()) == 1  # exactly once
    new = record["model_version"]
    by_part = versions_by_partition(dets, frame_offsets(s, len(events)))
    assert len(by_part) == 2  # both partitions carried frames
    assert_monotone(by_part, old, new)
    assert {d["model_version"] for d in dets} == {old, new}
    assert all(d["model_name"] == "ssd_mobilenet_v2_coco" for d in dets)
    # the SWITCH event (committed with the first new-model detections) says where each began
    (switch,) = events_of(s, "SWITCH")
    assert (switch["model_version"], switch["version"]) == (new, "2099_01_01")
    assert switch["details"]["previous"] == old
    assert switch["details"]["instance"] == "w0"
    for part, seq in by_part.items():
        first_new = min(offset for offset, v in seq if v == new)
        assert switch["details"][f"p{part}"] == str(first_new), (part, switch["details"])
        assert all(v == old for offset, v in seq if offset < first_new)


def test_model_failing_its_sha256_is_refused_and_the_old_model_runs_on(
    settings: VigilSettings, production: Callable[..., Worker], tiny_model: str, tmp_path: Path
) -> None:
    s = _settings(settings, tiny_model)
    bad = candidate(Path(tiny_model), tmp_path / "bad", "2", sha256="0" * 64)
    before, after = _events(60), _events(60, first=60)
    worker = production(s)
    old = worker.inference.detector.identity.event_version
    produce_frames(s, before)
    wait_until(lambda: worker.committed_frames >= 20, 60, "old model's first frames")
    promote(s, bad)
    (refuse,) = wait_until(lambda: events_of(s, "REFUSE"), 60, "the REFUSE event")
    assert (refuse["name"], refuse["version"]) == ("tiny-yolo", "2")
    assert "sha256" in refuse["reason"]
    assert refuse["details"]["instance"] == "w0"
    (alert,) = read_topic(s, Topic.ALERTS, want=1, timeout_s=30)
    assert alert["rule_id"] == "model:refused"
    assert alert["alert_id"] == "model:refused:w0:tiny-yolo@2"
    assert alert["severity"] == "HIGH"
    produce_frames(s, after)
    events = before + after
    dets = detections(s, len(events))
    counts = Counter(d["frame_id"] for d in dets)
    assert set(counts) == {e["frame_id"] for e in events}
    assert max(counts.values()) == 1
    assert {d["model_version"] for d in dets} == {old}  # nothing of the refused model
    assert worker.swap is not None
    assert worker.swap.switches == 0
    assert events_of(s, "SWITCH") == []


def test_start_up_runs_the_registry_production_model_or_refuses_it(
    settings: VigilSettings, tiny_model: str, tmp_path: Path
) -> None:
    s = _settings(settings, tiny_model, partitions=1)
    good = candidate(Path(tiny_model), tmp_path / "good", "3")
    promote(s, good)
    worker = Worker(s, instance="s0", follow_registry=True)
    try:
        assert worker.inference.detector.identity.event_version == good["model_version"]
        assert worker.swap is not None
        assert worker.swap.running == good
    finally:
        worker.close()
    missing = candidate(Path(tiny_model), tmp_path / "gone", "4")
    (tmp_path / "gone" / "tiny.onnx").unlink()
    promote(s, missing)
    worker = Worker(s, instance="s1", follow_registry=True)
    try:  # the settings' model, and the refusal said
        assert worker.inference.detector.identity.version == "1"
        assert worker.swap is not None
        assert worker.swap.running is None
    finally:
        worker.close()
    (refuse,) = events_of(s, "REFUSE")
    assert (refuse["version"], refuse["details"]["instance"]) == ("4", "s1")
    assert "not found" in refuse["reason"]


def test_start_up_takes_the_registry_s_face_models(
    settings: VigilSettings, tiny_model: str, tmp_path: Path
) -> None:
    """Face models are not hot-swapped (an embedder change would need the watch-list enrolled
    again); a worker starting takes the registry's, and refuses one that fails its checks."""
    s = _settings(settings, tiny_model, partitions=1)
    zoo = s.cache_dir / "models"
    face = candidate(zoo / "centerface" / "spec.yaml", tmp_path / "face", "9")
    emb = candidate(zoo / "faceres" / "spec.yaml", tmp_path / "emb", "9", sha256="0" * 64)
    registry.publish(
        s,
        [
            (registry.production_key("face_detector"), {**face, "role": "face_detector"}),
            (registry.production_key("embedder"), {**emb, "role": "embedder"}),
        ],
    )
    worker = Worker(s, instance="f0", follow_registry=True)
    try:
        assert worker.inference.face_refs["face_detector"] == tmp_path / "face" / "spec.yaml"
        assert worker.inference.face_refs["embedder"] == s.models.embedder  # refused
        cascade = worker.inference.cascade
        assert cascade.detector.identity.event_version == face["model_version"]
    finally:
        worker.close()
    (refuse,) = events_of(s, "REFUSE")
    assert (refuse["role"], refuse["name"], refuse["version"]) == ("embedder", "faceres", "9")
    assert "sha256" in refuse["reason"]


def test_verified_spec_names_what_is_wrong(tiny_model: str, tmp_path: Path) -> None:
    record = candidate(Path(tiny_model), tmp_path / "c", "5")
    assert verified_spec(record)[2] == record["sha256"]
    with pytest.raises(SwapError, match="sha256"):
        verified_spec({**record, "sha256": "1" * 64})
    with pytest.raises(SwapError, match="file://"):
        verified_spec({**record, "location": "s3://bucket/spec.yaml"})
    (tmp_path / "c" / "tiny.onnx").unlink()
    with pytest.raises(SwapError, match="not found"):
        verified_spec(record)


def test_an_assigned_partition_waits_for_the_registry_s_production_model(
    settings: VigilSettings, production: Callable[..., Worker], tiny_model: str, tmp_path: Path
) -> None:
    """A worker whose follower heard nothing (stopped here) still switches before it processes
    a partition assigned to it, because the assignment re-reads the registry: the partitions
    a second worker ran on the new model never go back to the old one."""
    s = _settings(settings, tiny_model, partitions=4)
    record = candidate(Path(tiny_model), tmp_path / "cand", "2")
    first = production(s, "a")
    old, new = first.inference.detector.identity.event_version, record["model_version"]
    produce_frames(s, _events(120))
    wait_until(lambda: first.committed_frames >= 120, 60, "a's first frames")
    assert first.swap is not None
    first.swap.follower.stop()  # deaf: only the assignment's re-read can switch it
    promote(s, record)
    second = production(s, "b")  # starts on the new model; joining takes some partitions
    wait_until(lambda: len(second.loop.assignment) > 0, 60, "b's partitions")
    produce_frames(s, _events(120, first=120))
    wait_until(lambda: first.committed_frames + second.committed_frames >= 240, 60, "240 frames")
    second.stop()  # its partitions go back to a, which must switch before processing them
    wait_until(lambda: first.swap is not None and first.swap.switches == 1, 60, "a's switch")
    late = _events(120, first=240)
    produce_frames(s, late)
    dets = detections(s, 360)
    counts = Counter(d["frame_id"] for d in dets)
    assert len(counts) == 360
    assert max(counts.values()) == 1  # exactly once
    assert_monotone(versions_by_partition(dets, frame_offsets(s, 360)), old, new)
    late_ids = {e["frame_id"] for e in late}
    assert {d["model_version"] for d in dets if d["frame_id"] in late_ids} == {new}
    assert {e["details"]["instance"] for e in events_of(s, "SWITCH")} == {"a"}
