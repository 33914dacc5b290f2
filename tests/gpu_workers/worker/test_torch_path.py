"""The worker's torch path (``worker.preprocess: torch``) on the real broker, on the CPU device
(the same code a GPU host runs with nvJPEG and CUDA tensors): awkward but valid images all get
their DetectionEvent upright and the right size, what the device decoder refuses is decoded on
the CPU and counted, undecodable frames go to the DLQ alone, the face cascade and the motion
gate work from the device frames, and the detector finds what the CPU path finds."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from tests import corpus
from tests.gpu_workers.worker.conftest import worker_settings
from tests.gpu_workers.worker.helpers import detections, read_topic
from vigil.dlq import read_envelope
from vigil.testing import bikes_jpegs, frame_event, produce_frames, provision
from vigil.testing.media import still
from vigil.topics import Topic
from vigil_app.settings import VigilSettings

pytest.importorskip("torch", reason="the torch path needs torch: pip install 'vigil[gpu]'")
pytest.importorskip("torchvision", reason="the torch path needs torchvision (the gpu extra)")

ENGINES = ["onnxruntime", "torch"]


def fallbacks(reason: str) -> float:
    value = REGISTRY.get_sample_value("vigil_worker_gpu_decode_fallbacks_total", {"reason": reason})
    return value or 0.0


def torch_settings(settings: VigilSettings, engine: str, **worker: Any) -> VigilSettings:
    from gpu_workers.settings import OnnxRuntimeEngineSettings, TorchEngineSettings

    cfg: Any = (
        TorchEngineSettings(device="cpu") if engine == "torch" else OnnxRuntimeEngineSettings()
    )
    return worker_settings(
        settings,
        "ssd_mobilenet_v2_coco",
        max_wait_ms=50,
        preprocess="torch",
        engine=cfg,
        **worker,
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_corpus_and_real_frames_on_the_torch_path(
    settings: VigilSettings, run_worker: Any, ssd: Any, engine: str
) -> None:
    s = torch_settings(settings, engine, face_cameras=("poi-cam",))
    provision(s)
    good: dict[str, tuple[bytes, str]] = {
        **{f"o{o}": (corpus.oriented(o), "JPEG") for o in range(1, 9)},
        "o6-png": (corpus.oriented(6, "PNG"), "PNG"),
        "cmyk": (corpus.cmyk_jpeg(), "JPEG"),
        "progressive": (corpus.progressive_jpeg(), "JPEG"),
        "png16": (corpus.png16_grey(), "PNG"),
        "thin-v": (corpus.thin(1, 2000), "JPEG"),
        "thin-h": (corpus.thin(2000, 1), "JPEG"),
    }
    jpegs = bikes_jpegs(6, (640, 272), step=40)
    # one camera each: the first frame of a camera is always detected (no motion gate)
    events = [
        frame_event(f"c-{name}", 0, data, frame_id=name, encoding=enc)
        for name, (data, enc) in good.items()
    ]
    events += [frame_event(f"bikes{i}", 0, j, frame_id=f"bikes{i}") for i, j in enumerate(jpegs)]
    ok, buf = cv2.imencode(".jpg", still("grace_hopper"), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    events.append(frame_event("poi-cam", 0, buf.tobytes(), frame_id="poi"))
    at = jpegs[0].index(b"\xff\xc4") + 5  # a bogus Huffman table: the header reads, no decode
    bogus = jpegs[0][:at] + b"\xff" * 16 + jpegs[0][at + 16 :]
    events.append(frame_event("broken", 0, bogus, frame_id="bogus"))
    before = {r: fallbacks(r) for r in ("format", "cmyk", "decode_error")}
    produce_frames(s, events)
    run_worker(s)

    out = {d["frame_id"]: d for d in detections(s, len(events) - 1)}
    assert set(out) == {*good, *(f"bikes{i}" for i in range(6)), "poi"}
    for o in range(1, 9):  # upright: the landscape size and the upright scene's dhash
        d = out[f"o{o}"]
        assert (d["frame_width"], d["frame_height"]) == corpus.UPRIGHT_SIZE, o
        assert d["image_stats"]["dhash"] == corpus.UPRIGHT_DHASH, o
    assert out["o6-png"]["image_stats"]["dhash"] == corpus.UPRIGHT_DHASH
    assert 0.4 < out["png16"]["image_stats"]["brightness"] < 0.6
    assert (out["thin-v"]["frame_width"], out["thin-v"]["frame_height"]) == (1, 2000)
    # PNGs and the CMYK JPEG were decoded on the CPU, and counted; the bogus JPEG too, then DLQ
    assert fallbacks("format") - before["format"] == 2
    assert fallbacks("cmyk") - before["cmyk"] == 1
    assert fallbacks("decode_error") - before["decode_error"] == 1
    [dead] = [read_envelope(m) for m in read_topic(s, Topic.DLQ.name_in(s.topics), 1)]
    assert bytes(dead["key"]) == b"broken"
    assert dead["error_message"].startswith("undecodable_image")

    faces = [d for d in out["poi"]["detections"] if d["label"] == "face"]
    assert out["poi"]["faces_searched"] is True
    assert len([f for f in faces if f["embedding"] is not None]) == 1

    # the detector finds on the torch path what it finds on the CPU path
    images = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in jpegs]
    for i, want in enumerate(ssd(images)):
        got = out[f"bikes{i}"]["detections"]
        assert abs(len(got) - len(want.detections)) <= 1, i
        for det in (d for d in want.detections if d.score >= 0.5):
            box = det.box.as_dict()
            assert any(
                g["label"] == det.label
                and abs(g["score"] - det.score) <= 0.03
                and max(abs(g["box"][k] - box[k]) for k in box) <= 0.01
                for g in got
            ), (i, det)


def test_motion_gate_on_the_torch_path(settings: VigilSettings, run_worker: Any) -> None:
    """A still camera's repeated frame is carried, from the device's grey copy."""
    s = torch_settings(settings, "onnxruntime")
    provision(s)
    [jpeg] = bikes_jpegs(1, (640, 272))
    events = [frame_event("still", i, jpeg, capture_ts_ms=1_000 + 100 * i) for i in range(4)]
    produce_frames(s, events)
    run_worker(s)
    out = sorted(detections(s, 4), key=lambda d: d["sequence"])
    assert [d["carried_from"] for d in out] == [None, "still-0", "still-0", "still-0"]
