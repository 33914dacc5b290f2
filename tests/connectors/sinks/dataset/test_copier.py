"""The dataset copier on the real broker: it copies the chosen frames' bytes out of
``vigil.frames``, blurs face boxes (pixels inside a face box change, outside they do not),
blurs a frame whole when its faces were not looked for and no finder is given, finds faces
with the injected finder, records expired and unknown frames as missed, commits its offsets,
and a restart duplicates nothing (a new reason merges into the record)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

from connectors.sinks.dataset.copier import CopierRunner, group_of, store_of
from connectors.sinks.dataset.store import DatasetStore
from tests.connectors.sinks.dataset import support as s
from vigil import kafka
from vigil.faces import FaceModels
from vigil.follow import topic_ends
from vigil.testing import (
    committed_total,
    now_ms,
    produce_events,
    produce_timed,
    provision,
    wait_until,
)
from vigil.topics import Topic
from vigil_app.settings import DatasetSettings, VigilSettings


def copy(settings: VigilSettings, n: int, faces: FaceModels | None = None) -> DatasetStore:
    """Run a copier until its store holds ``n`` records and its group committed every sample."""
    runner = CopierRunner(settings, faces).start()
    store = store_of(settings)
    total = sum(topic_ends(settings, Topic.SAMPLES.name_in(settings.topics)).values())
    try:
        wait_until(
            lambda: (
                runner.error is not None
                or (
                    len(list(store.records())) >= n
                    and committed_total(settings, group_of(settings), Topic.SAMPLES) >= total
                )
            ),
            90,
            "the copier to copy and commit every sample",
        )
    finally:
        assert runner.stop()
    assert runner.error is None
    return store


def using(settings: VigilSettings, name: str, **cfg: Any) -> VigilSettings:
    dataset = DatasetSettings(name=name, group_id=f"copier-{name}", **cfg)
    return settings.model_copy(update={"dataset": dataset})


@pytest.fixture
def frames(settings: VigilSettings) -> dict[str, Any]:
    """Frames on vigil.frames: ``old`` (then deleted, as retention would) and ``cam`` ones."""
    provision(settings)
    images = s.jpegs(4)
    old = produce_timed(settings, "old", images[:1], now_ms() - 600_000, 100)
    admin = kafka.admin(settings)
    topic = Topic.FRAMES.name_in(settings.topics)
    ends = kafka.end_offsets(kafka.consumer(settings, "probe"), topic)
    for fut in admin.delete_records(
        [TopicPartition(topic, tp.partition, tp.offset) for tp in ends]
    ).values():
        fut.result(30)
    cam = produce_timed(settings, "cam", images[1:], now_ms(), 100)
    return {"old": old[0], "cam": cam, "images": images}


@pytest.mark.timeout(300)
def test_copies_blurs_records_misses_and_restarts_without_duplicates(
    settings: VigilSettings, frames: dict[str, Any]
) -> None:
    searched, unsearched, _ = frames["cam"]
    ghost = {  # between two frames of the camera, but never sent
        **searched,
        "frame_id": "cam-99",
        "sequence": 99,
        "capture_ts_ms": searched["capture_ts_ms"] + 50,
    }
    samples = [
        s.sample(searched, faces_searched=True, detections=[s.face()]),
        s.sample(unsearched, faces_searched=False),
        s.sample(frames["old"], faces_searched=True),
        s.sample(ghost, faces_searched=True),
    ]
    produce_events(settings, Topic.SAMPLES, samples)
    original = {
        f["frame_id"]: img for f, img in zip(frames["cam"], frames["images"][1:], strict=True)
    }

    # no finder, faces blurred (the default)
    store = copy(using(settings, "a"), 4)
    rec = {r["frame_id"]: r for r in store.records()}
    face_box = store.image_path(searched["frame_id"]).read_bytes()
    assert rec[searched["frame_id"]]["privacy"] == "faces-blurred"
    assert s.region_diff(face_box, original[searched["frame_id"]], s.FACE, inside=True) > 12
    assert s.region_diff(face_box, original[searched["frame_id"]], s.FACE, inside=False) < 3
    whole = store.image_path(unsearched["frame_id"]).read_bytes()
    assert rec[unsearched["frame_id"]]["privacy"] == "blurred-whole"
    assert s.region_diff(whole, original[unsearched["frame_id"]], s.FACE, inside=False) > 12
    assert rec["old-0"]["status"] == "missed"
    assert rec["old-0"]["missed_reason"] == "expired"
    assert rec["cam-99"]["missed_reason"] == "not_found"
    assert not store.image_path("old-0").exists()
    for r in rec.values():
        assert r["reasons"] == samples[0]["reasons"]  # why it was chosen, kept with it
    assert rec[searched["frame_id"]]["source"]["topic"] == Topic.FRAMES.name_in(settings.topics)

    # a restart of the same copier: a duplicate sample is skipped, a new reason merges
    merged = {
        **samples[0],
        "reasons": [*samples[0]["reasons"], {"kind": "DRIFT_WINDOW", "detail": "w"}],
    }
    produce_events(settings, Topic.SAMPLES, [samples[1], merged])
    mtime = store.image_path(unsearched["frame_id"]).stat().st_mtime_ns
    again = copy(using(settings, "a"), 4)
    assert len(list(again.records())) == 4
    assert len(list(again.images.iterdir())) == 2
    assert again.image_path(unsearched["frame_id"]).stat().st_mtime_ns == mtime
    kinds = [r["kind"] for r in again.read(samples[0]["sample_id"])["reasons"]]  # type: ignore[index]
    assert kinds == ["UNCERTAIN", "DRIFT_WINDOW"]

    # with a face finder: the unsearched frame's faces are found and blurred, the rest sharp
    finder = s.FoundFaces()
    found = copy(using(settings, "b"), 4, finder)
    rec_b = found.read(samples[1]["sample_id"])
    assert rec_b is not None
    assert rec_b["privacy"] == "faces-detected-now"
    data = found.image_path(unsearched["frame_id"]).read_bytes()
    assert s.region_diff(data, original[unsearched["frame_id"]], s.FACE, inside=True) > 12
    assert s.region_diff(data, original[unsearched["frame_id"]], s.FACE, inside=False) < 3
    assert finder.calls == 1  # a frame whose faces were searched is not searched again

    # keep_faces: the frame's own bytes
    kept = copy(using(settings, "c", keep_faces=True), 4)
    for frame in (searched, unsearched):
        assert kept.image_path(frame["frame_id"]).read_bytes() == original[frame["frame_id"]]
        assert kept.read(f"{frame['frame_id']}@v1")["privacy"] == "unblurred"  # type: ignore[index]
