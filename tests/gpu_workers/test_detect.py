"""``vigil detect`` on image files: table and JSON output, faces, annotated copies, and a
clear error for a file that is not an image."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from vigil.testing.media import still
from vigil_app.cli import app


@pytest.fixture
def env(zoo_cache: Path, tmp_path: Path) -> dict[str, str]:
    return {"VIGIL_CACHE_DIR": str(zoo_cache), "VIGIL_DATA_DIR": str(tmp_path / "data")}


def test_detect_json_with_faces_and_annotation(env: dict[str, str], tmp_path: Path) -> None:
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), still("astronaut"))
    cat = tmp_path / "chelsea.jpg"
    cv2.imwrite(str(cat), still("chelsea"))
    out_dir = tmp_path / "annotated"
    result = CliRunner().invoke(
        app,
        ["detect", str(image), str(cat), "--faces", "--json", "--annotate", str(out_dir)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.strip().splitlines())
    assert first["model_name"] == "ssd_mobilenet_v2_coco"
    assert "person" in [d["label"] for d in first["detections"]]
    assert len(first["faces"]) == 1
    assert first["faces"][0]["embedding_dim"] == 1024
    assert first["face_models"]["embedder"].startswith("faceres:human-3.3.6@")
    assert next(d["label"] for d in second["detections"]) == "cat"
    assert second["faces"] == []
    drawn = cv2.imread(str(out_dir / "astronaut.jpg"))
    assert drawn is not None
    assert drawn.shape == (512, 512, 3)


def test_detect_table_and_bad_file(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "coffee.png"
    cv2.imwrite(str(good), still("coffee"))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    result = CliRunner().invoke(app, ["detect", str(good), str(bad)], env=env)
    assert result.exit_code == 1
    text = " ".join(result.output.split())  # rich wraps to the terminal width
    assert "cup" in text
    assert "broken.jpg: not a decodable image" in text


def test_detect_unprepared_model_says_how_to_fix(tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), still("coffee"))
    result = CliRunner().invoke(
        app, ["detect", str(image)], env={"VIGIL_CACHE_DIR": str(tmp_path / "empty")}
    )
    assert result.exit_code == 2
    assert "vigil models prepare ssd_mobilenet_v2_coco" in " ".join(result.output.split())
