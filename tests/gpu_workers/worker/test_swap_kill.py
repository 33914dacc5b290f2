"""Two ``vigil worker`` processes on a 4-partition frames topic; a model is promoted mid-stream
and one worker is SIGKILLed inside its swap (the old model's work committed, the new one not yet
switched in), then restarted. A read_committed reader then sees every frame exactly once, each
detected by exactly one of the two versions, and never the old version after the new one on a
partition (the surviving worker takes the killed one's partitions and catches up with the
registry before processing them)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections
from tests.gpu_workers.worker.processes import start_worker
from tests.gpu_workers.worker.swapping import (
    assert_monotone,
    candidate,
    events_of,
    frame_offsets,
    promote,
    versions_by_partition,
)
from vigil.files import sha256_of
from vigil.testing import bikes_jpegs, frame_event, produce_frames, provision, wait_until
from vigil.testing.events import Collector
from vigil_app.settings import VigilSettings

FRAMES = 1600
CAMERAS = 8


def test_sigkill_during_the_swap_versions_stay_monotone_exactly_once(
    settings: VigilSettings, tiny_model: str, tmp_path: Path
) -> None:
    s = worker_settings(
        settings,
        tiny_model,
        partitions=4,
        max_wait_ms=5,
    )
    provision(s)
    spec = Path(tiny_model)
    old = f"1+{sha256_of(spec.parent / 'tiny.onnx')[:12]}"
    record = candidate(spec, tmp_path / "cand", "2")
    jpegs = bikes_jpegs(40, (64, 48), step=6)
    events = [
        frame_event(f"cam{i % CAMERAS}", i // CAMERAS, jpegs[i % len(jpegs)]) for i in range(FRAMES)
    ]

    def feed(part: list[dict[str, object]]) -> None:  # a steady stream, during the kill too
        for start in range(0, len(part), 100):
            produce_frames(s, part[start : start + 100])
            time.sleep(0.15)

    collector = Collector(s)
    logs = {name: tmp_path / f"{name}.log" for name in ("k0", "k1")}
    k0 = start_worker(s, "k0", logs["k0"])
    k1 = start_worker(s, "k1", logs["k1"], VIGIL_FAULTS="worker_swap:1")
    procs = [k0, k1]
    half = FRAMES // 2
    try:
        feeder = threading.Thread(target=feed, args=(events[:half],), daemon=True)
        feeder.start()
        # both members hold partitions before the promotion
        wait_until(lambda: "assigned [(" in logs["k1"].read_text(), 90, "k1 assigned")
        assert collector.wait_for(FRAMES // 8, 90), logs["k1"].read_text()[-3000:]
        promote(s, record)
        assert k1.wait(120) == -signal.SIGKILL, logs["k1"].read_text()[-3000:]
        assert "SIGKILL at worker_swap #1" in logs["k1"].read_text()
        feeder.join(60)
        k1 = start_worker(s, "k1", logs["k1"])  # starts on the registry's production model
        procs[1] = k1
        feed(events[half:])
        assert collector.wait_for(FRAMES, 180), logs["k0"].read_text()[-3000:]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(60)
        collector.stop()
    duplicated = {k: v for k, v in collector.counts.items() if v > 1}
    assert set(collector.counts) == {e["frame_id"] for e in events}
    assert duplicated == {}
    dets = detections(s, FRAMES)
    assert max(Counter(d["frame_id"] for d in dets).values()) == 1
    new = record["model_version"]
    assert {d["model_version"] for d in dets} == {old, new}
    by_part = versions_by_partition(dets, frame_offsets(s, FRAMES))
    assert sorted(by_part) == [0, 1, 2, 3]
    assert_monotone(by_part, old, new)
    # the survivor announced its switch; the killed worker never switched (it restarted on new)
    assert [e["details"]["instance"] for e in events_of(s, "SWITCH")] == ["k0"]
    assert "production detector from the registry: tiny-yolo@2" in logs["k1"].read_text()
