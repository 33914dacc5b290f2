"""The GPU check's dry run on the CPU device: the script a GPU host runs, end to end, writing
its JSON (parity per model and output, throughput per stage, size and batch, the goal)."""

from __future__ import annotations

import json
from pathlib import Path

from gpu_workers.gpu.check import main
from vigil.testing.media import bikes_jpegs


def test_dry_run_writes_the_report(tmp_path: Path, zoo_cache: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, jpeg in enumerate(bikes_jpegs(4, (640, 272), step=30)):
        (frames / f"{i:03d}.jpg").write_bytes(jpeg)
    out = tmp_path / "report.json"
    argv = ["--device", "cpu", "--cache-dir", str(zoo_cache), "--frames", str(frames)]
    argv += ["--models", "ssd_mobilenet_v2_coco", "faceres", "--batches", "1", "2"]
    assert main([*argv, "--seconds", "0.01", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["dry_run_on_cpu"] is True
    assert report["passed"] is True
    assert report["errors"] == []
    assert report["host"]["device"] == "cpu"
    assert [(r["model"], r["engine"], r["precision"]) for r in report["parity"]] == [
        ("ssd_mobilenet_v2_coco", "torch-fp32", "fp32"),
        ("faceres", "torch-fp32", "fp32"),
    ]
    ssd = report["parity"][0]["outputs"]
    assert set(ssd) == {"box_encodings", "class_logits"}
    assert all(o["max_abs_diff"] <= 1e-3 for o in ssd.values())
    rows = report["throughput"]
    stages = {"decode", "preprocess", "infer", "decode_preprocess_infer", "worker_path"}
    assert {(r["frames"], r["batch"], r["stage"]) for r in rows} == {
        (f, b, s) for f in ("bikes-640x272", "640x360", "1080p") for b in (1, 2) for s in stages
    }
    assert all(r["frames_per_s"] > 0 for r in rows)
    assert report["goal"]["best"]["stage"] == "decode_preprocess_infer"
    assert report["goal"]["met"] is False  # two CPU cores are not an H200


def test_no_models_prepared_is_a_clear_error(tmp_path: Path) -> None:
    assert (
        main(["--device", "cpu", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 3
    )
    assert not (tmp_path / "r").exists()
