"""``vigil replay`` against the real broker: exactly the frames captured in [T1, T2], the
production group untouched, and a range retention no longer holds refused with what is."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka import TopicPartition

from gpu_workers.replay.bounds import iso
from gpu_workers.replay.candidate import candidates_topics
from gpu_workers.replay.run import ReplayRequest, plan_for
from tests.gpu_workers.replay.support import committed, read_all, vigil, write_config
from tests.gpu_workers.worker.helpers import tiny_detector
from vigil import kafka
from vigil.testing import bikes_jpegs, now_ms, produce_timed, provision
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def test_replay_processes_exactly_the_range_and_leaves_production_alone(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    frames = Topic.FRAMES.name_in(settings.topics)
    jpegs = bikes_jpegs(30, step=3)
    base = now_ms() - 40_000
    produce_timed(settings, "cam-a", jpegs, base, 1_000)  # stamped with their capture times
    # stamped when produced, up to 40 s after capture (as ingest does, under a delay)
    produce_timed(settings, "cam-b", jpegs[:20], base, 1_000, stamp=False)
    # production's group has read part of the topic
    prod_group = settings.worker.group_id
    cons = kafka.consumer(settings, prod_group)
    cons.commit(
        offsets=[TopicPartition(frames, p, 3) for p in range(settings.topics.frames_partitions)],
        asynchronous=False,
    )
    cons.close()
    before = committed(settings, prod_group, frames)

    spec = tiny_detector(tmp_path / "tiny")
    config = write_config(settings, tmp_path / "vigil.yaml")
    done = vigil(
        config, "replay", "--from", str(base + 10_000), "--to", iso(base + 19_000),
        "--model", str(spec), "--cameras", "cam-a,cam-b", "--no-sink",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    assert "replayed 20 frames" in done.stdout

    out = read_all(
        settings, Topic.DETECTIONS.name_in(candidates_topics(settings)), Topic.DETECTIONS
    )
    ids = sorted(ev["frame_id"] for ev in out)
    assert ids == sorted(f"{cam}-{i}" for cam in ("cam-a", "cam-b") for i in range(10, 20))
    assert {ev["model_name"] for ev in out} == {"tiny-yolo"}
    assert all(base + 10_000 <= ev["capture_ts_ms"] <= base + 19_000 for ev in out)
    # nothing on production's detections topic; production's offsets as they were
    assert read_all(settings, Topic.DETECTIONS.name_in(settings.topics), Topic.DETECTIONS) == []
    assert committed(settings, prod_group, frames) == before
    # the replay's own group committed its progress
    (run_file,) = (settings.data_dir / "replay" / "runs").glob("*.json")
    run = json.loads(run_file.read_text())
    assert run["replayed"] == 20
    assert run["group_id"].startswith("vigil-replay-tiny-yolo-")
    assert sum(o for o in committed(settings, run["group_id"], frames).values() if o > 0) > 0


def test_replay_of_a_range_retention_deleted_is_refused(
    settings: VigilSettings, tmp_path: Path
) -> None:
    provision(settings)
    frames = Topic.FRAMES.name_in(settings.topics)
    base = now_ms() - 200_000
    produce_timed(settings, "cam-a", bikes_jpegs(10), base, 10_000)
    probe = kafka.consumer(settings, "probe")
    (part,) = [tp.partition for tp in kafka.end_offsets(probe, frames) if tp.offset > 0]
    probe.close()
    admin = kafka.admin(settings)
    for fut in admin.delete_records([TopicPartition(frames, part, 5)]).values():
        fut.result(30)  # as retention would: frames 0-4 are gone

    config = write_config(settings, tmp_path / "vigil.yaml")
    done = vigil(
        config, "replay", "--from", str(base), "--to", str(base + 90_000),
        "--model", str(tiny_detector(tmp_path / "tiny")), "--no-sink",
    )  # fmt: skip
    assert done.returncode == 3, done.stdout
    message = " ".join(done.stderr.split())
    assert f"available: {iso(base + 50_000)} to" in message
    assert "--partial" in message

    req = ReplayRequest(base, base + 90_000, "unused", partial=True)
    plan = {p.partition: p for p in plan_for(settings, req).partitions}
    assert (plan[part].start, plan[part].end) == (5, 10)
    later = ReplayRequest(base + 60_000, base + 90_000, "unused")  # within what is kept
    assert plan_for(settings, later).total == 4  # frames 6..9
