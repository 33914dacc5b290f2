"""``vigil dataset export``: COCO (what CVAT's COCO 1.0 import reads) and Label Studio tasks,
checked against the JSON Schema written from Label Studio's documentation
(``connectors/sinks/dataset/labelstudio_tasks.schema.json``); no broker needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest
from typer.testing import CliRunner

from connectors.sinks.dataset.export import SCHEMA_PATH, ExportError, export, label_config
from connectors.sinks.dataset.store import DatasetStore
from tests.connectors.sinks.dataset import support as s
from vigil_app.cli import app as cli

W, H = 320, 240


def record(i: int, detections: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    frame = {"frame_id": f"cam/{i}", "camera_id": "cam", "sequence": i, "capture_ts_ms": 1000 + i}
    rec = s.sample(frame, faces_searched=True, detections=detections)
    return {
        **rec,
        "status": "copied",
        "width": W,
        "height": H,
        "privacy": "faces-blurred",
        **extra,
    }


def person(score: float, box: tuple[float, float, float, float]) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {
        "label": "person",
        "class_id": 1,
        "score": score,
        "box": {"x_min": x0, "y_min": y0, "x_max": x1, "y_max": y1},
    }


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    store = DatasetStore(tmp_path / "datasets" / "default")
    images = s.jpegs(3)
    recs = [
        record(0, [person(0.5, (0.25, 0.5, 0.75, 1.0)), {**s.face(), "score": 0.75}]),
        record(1, []),
        record(2, [person(0.375, (-0.1, 0.0, 0.5, 0.5))]),  # clipped to the image
    ]
    for rec, jpeg in zip(recs, images, strict=True):
        rec["image"] = store.write_image(rec["frame_id"], jpeg)
        store.write_record(rec)
    store.write_record(
        {**record(3, []), "status": "missed", "missed_reason": "expired", "image": None}
    )
    return store


def test_coco_structure(store: DatasetStore, tmp_path: Path) -> None:
    done = export(store, "coco", tmp_path / "coco")
    doc = json.loads((tmp_path / "coco" / "annotations" / "instances_default.json").read_text())
    assert (done.images, done.annotations) == (3, 3)  # the missed sample is not exported
    assert [c["name"] for c in doc["categories"]] == ["face", "person"]
    assert [c["id"] for c in doc["categories"]] == [1, 2]
    images = {im["frame_id"]: im for im in doc["images"]}
    assert set(images) == {"cam/0", "cam/1", "cam/2"}
    first = images["cam/0"]
    assert (first["width"], first["height"]) == (W, H)
    assert first["file_name"].endswith(".jpg")
    assert (tmp_path / "coco" / "images" / first["file_name"]).read_bytes() == (
        store.folder / "images" / first["file_name"]
    ).read_bytes()
    assert len({im["id"] for im in doc["images"]}) == 3
    anns = [a for a in doc["annotations"] if a["image_id"] == first["id"]]
    by_cat = {a["category_id"]: a for a in anns}
    assert by_cat[2]["bbox"] == [80.0, 120.0, 160.0, 120.0]  # [x, y, w, h] in pixels
    assert by_cat[2]["area"] == 160.0 * 120.0
    assert by_cat[2]["score"] == 0.5
    assert by_cat[1]["score"] == 0.75
    assert all(a["iscrowd"] == 0 and a["segmentation"] == [] for a in doc["annotations"])
    clipped = next(a for a in doc["annotations"] if a["image_id"] == images["cam/2"]["id"])
    assert clipped["bbox"] == [0.0, 0.0, 160.0, 120.0]
    assert len({a["id"] for a in doc["annotations"]}) == len(doc["annotations"])


def test_labelstudio_tasks_match_the_schema(store: DatasetStore, tmp_path: Path) -> None:
    out = tmp_path / "ls"
    export(store, "labelstudio", out, document_root=tmp_path)
    tasks = json.loads((out / "tasks.json").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(tasks, schema)
    assert [t["data"]["frame_id"] for t in tasks] == ["cam/0", "cam/1", "cam/2"]
    task = tasks[0]
    url = task["data"]["image"]
    assert url.startswith("/data/local-files/?d=ls/images/")
    assert (tmp_path / unquote(url.split("?d=", 1)[1])).is_file()
    [pred] = task["predictions"]
    assert pred["model_version"] == "ssd@v1"
    assert pred["score"] == 0.5
    region = next(r for r in pred["result"] if r["value"]["rectanglelabels"] == ["person"])
    assert region["value"] == {
        "x": 25.0,
        "y": 50.0,
        "width": 50.0,
        "height": 50.0,
        "rotation": 0,
        "rectanglelabels": ["person"],
    }
    assert (region["original_width"], region["original_height"]) == (W, H)
    config = (out / "label_config.xml").read_text()
    assert '<Image name="image" value="$image"/>' in config
    assert '<RectangleLabels name="label" toName="image">' in config
    assert '<Label value="face"/>' in config
    assert '<Label value="person"/>' in config


def test_the_schema_refuses_what_label_studio_would_not_take(
    store: DatasetStore, tmp_path: Path
) -> None:
    export(store, "labelstudio", tmp_path / "ls", document_root=tmp_path)
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    bad = json.loads(json.dumps(tasks))
    bad[0]["predictions"][0]["result"][0]["value"]["x"] = 250.0  # pixels, not percent
    with pytest.raises(jsonschema.ValidationError, match="250"):
        jsonschema.validate(bad, schema)
    del bad[0]["data"]["frame_id"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_label_config_escapes_labels() -> None:
    assert '<Label value="a&quot;b&lt;c"/>' in label_config(['a"b<c'])


def test_nothing_copied_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no copied samples"):
        export(DatasetStore(tmp_path / "empty"), "coco", tmp_path / "out")


def test_the_command(store: DatasetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path))
    out = tmp_path / "export"
    result = CliRunner().invoke(
        cli, ["dataset", "export", "--format", "labelstudio", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "3 images" in result.output
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" in result.output
    assert len(json.loads((out / "tasks.json").read_text())) == 3
    result = CliRunner().invoke(cli, ["dataset", "export", "--format", "voc"])
    assert result.exit_code == 2
