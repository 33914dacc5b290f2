"""Blob GC with real files: expired blobs go, recent ones stay, a dry run deletes nothing;
orphans (no FrameEvent on the real topic refers to them) go after their grace; the API deletes
the blob of an upload Kafka refused (503)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.blobstore import FileBlobStore, collect_garbage, default_store
from connectors.frames import EncodedFrame, frame_event, now_ms
from schemas.contracts import serde_for
from tests.connectors.helpers import make_topics
from vigil import kafka
from vigil.topics import Topic
from vigil_app.api import create_app
from vigil_app.cli import app as cli
from vigil_app.settings import AccessSettings, IngestSettings, VigilSettings

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def test_gc_deletes_expired_blobs_and_stale_temporaries_only(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    old = _path(store.put("old.jpg", b"o" * 10))
    young = _path(store.put("young.jpg", b"y" * 20))
    tmp = old.parent / ".tmp-crashed"
    tmp.write_bytes(b"half")
    _age(old, 73 * HOUR)
    _age(tmp, 3600)

    dry = store.gc(72 * HOUR, dry_run=True)
    assert (dry.expired, dry.orphaned, dry.kept, dry.bytes) == (1, 1, 1, 14)
    assert old.exists()
    assert tmp.exists()

    done = store.gc(72 * HOUR)
    assert (done.expired, done.orphaned, done.kept) == (1, 1, 1)
    assert not old.exists()
    assert not tmp.exists()
    assert young.read_bytes() == b"y" * 20
    assert (
        store.gc(72 * HOUR).summary() == "deleted 0 expired and 0 orphaned blobs (0 bytes); kept 1"
    )


def test_gc_deletes_orphans_after_their_grace(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    kept_uri = store.put("referenced.jpg", b"r")
    orphan = _path(store.put("orphan.jpg", b"x"))
    fresh = _path(store.put("in-flight.jpg", b"f"))
    for p in (_path(kept_uri), orphan):
        _age(p, 3600)
    report = store.gc(72 * HOUR, referenced={kept_uri}, orphan_grace_s=600)
    assert (report.expired, report.orphaned, report.kept) == (0, 1, 2)
    assert not orphan.exists()
    assert _path(kept_uri).exists()
    assert fresh.exists()


def _frame(camera: str, jpeg: bytes) -> EncodedFrame:
    return EncodedFrame(camera, 1, now_ms(), 64, 48, jpeg, "UPLOAD", {})


def test_orphans_are_found_on_the_real_frames_topic(settings: VigilSettings) -> None:
    topic = make_topics(settings)
    store = default_store(settings)
    serde = serde_for(settings, Topic.FRAMES)
    referenced = frame_event(_frame("cam-a", b"A" * 64), frame_id="a", inline_limit=8, blobs=store)
    prod = kafka.producer(settings)
    kafka.produce(prod, topic, serde.serialize(referenced, topic=topic), key="cam-a")
    assert prod.flush(30) == 0
    orphan = _path(store.put("never-produced.jpg", b"B" * 64))
    expired = _path(store.put("expired.jpg", b"C" * 64))
    for p in (_path(referenced["image_uri"]), orphan):
        _age(p, 3600)
    _age(expired, 100 * HOUR)

    without = collect_garbage(settings, dry_run=True)  # age only: the orphan is not seen
    assert (without.expired, without.orphaned) == (1, 0)

    env = {"VIGIL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers}
    env |= {
        "VIGIL_TOPICS__PREFIX": settings.topics.prefix,
        "VIGIL_DATA_DIR": str(settings.data_dir),
    }
    dry = CliRunner().invoke(cli, ["blobs", "gc", "--orphans", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 expired and 1 orphaned blobs" in " ".join(dry.output.split())
    assert orphan.exists()
    assert expired.exists()

    run = CliRunner().invoke(cli, ["blobs", "gc", "--orphans"], env=env)
    assert run.exit_code == 0, run.output
    assert "deleted 1 expired and 1 orphaned blobs" in " ".join(run.output.split())
    assert not orphan.exists()
    assert not expired.exists()
    assert _path(referenced["image_uri"]).read_bytes() == b"A" * 64


def test_upload_refused_by_kafka_leaves_no_blob(settings: VigilSettings) -> None:
    """No frames topic (and no auto-creation): the real broker never takes the event, the
    producer gives up after its message timeout, the API answers 503 and deletes the blob."""
    api = settings.model_copy(
        update={
            "access": AccessSettings(ingest_keys=(SecretStr("k"),)),
            "ingest": IngestSettings(inline_image_bytes=1024, blob_gc_interval_s=0),
        }
    )
    producer = kafka.producer(api, **{"message.timeout.ms": 1500})
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    jpeg = bytes(cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 90])[1])
    assert len(jpeg) > 1024
    with TestClient(create_app(api, producer=producer)) as client:
        r = client.post("/v1/frames?camera_id=cam-x", content=jpeg, headers={"X-API-Key": "k"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "not_acknowledged"
    root = default_store(api).root
    assert [p for p in root.rglob("*") if p.is_file()] == []
