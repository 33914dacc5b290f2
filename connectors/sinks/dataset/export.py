"""A dataset's copied samples as files labelling tools import: COCO (CVAT's "COCO 1.0") and
Label Studio's JSON tasks with pre-annotations. What was checked, and where:

- COCO: the object-detection format of https://cocodataset.org/#format-data (``images`` with
  ``id``, ``file_name``, ``width``, ``height``; ``annotations`` with ``id``, ``image_id``,
  ``category_id``, ``bbox`` = [x, y, width, height] in pixels from the top-left corner,
  ``area``, ``iscrowd``, ``segmentation``; ``categories`` with ``id``, ``name``,
  ``supercategory``). CVAT imports "COCO 1.0" through Datumaro
  (https://openvinotoolkit.github.io/datumaro/stable/docs/data-formats/formats/coco.html):
  an annotation's ``score`` is read as its confidence, an empty ``segmentation`` makes it a
  box, and the layout is ``annotations/instances_default.json`` beside ``images/``.
  Extra fields (``frame_id``, ``camera_id``, ``sample_id``, ``reasons`` on an image) are
  ignored by both and read back by ``vigil dataset import``.
- Label Studio: pre-annotated tasks (https://labelstud.io/guide/predictions): a JSON list of
  ``{"data": {...}, "predictions": [{"model_version", "score", "result": [...]}]}``; each
  result of the RectangleLabels tag (https://labelstud.io/tags/rectanglelabels) has
  ``from_name``/``to_name`` naming the config's tags, ``type: rectanglelabels``,
  ``original_width``/``original_height`` (px), ``image_rotation``, and ``value`` with
  ``x``, ``y``, ``width``, ``height`` in percent (0-100) of the image, ``rotation`` and
  ``rectanglelabels``. Images are served by Label Studio's local storage
  (https://labelstud.io/guide/storage, "Local storage"): with
  ``LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true`` and
  ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<root>``, ``/data/local-files/?d=<path under
  root>`` is an image's URL. ``labelstudio_tasks.schema.json`` (beside this module) is the
  task file's JSON Schema written from those pages; the tests check exports against it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from connectors.sinks.dataset.store import COPIED, DatasetStore
from vigil.errors import VigilError
from vigil.files import write_atomically

Format = Literal["coco", "labelstudio"]
COCO_FILE = "annotations/instances_default.json"
TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
LOCAL_FILES = "/data/local-files/?d="
SCHEMA_PATH = Path(__file__).with_name("labelstudio_tasks.schema.json")
_QUOTE = {'"': "&quot;"}  # attribute values always in double quotes


class ExportError(VigilError, ValueError):
    """The dataset cannot be exported (nothing copied, or the output is unusable)."""


@dataclass(frozen=True)
class Exported:
    out: Path
    files: tuple[Path, ...]  # what was written besides the images
    images: int
    annotations: int


def frames(store: DatasetStore) -> list[dict[str, Any]]:
    """One record per copied frame (of several samples of a frame, the latest chosen), by
    capture time."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in store.records():
        if rec.get("status") != COPIED:
            continue
        old = latest.get(rec["frame_id"])
        if old is None or int(rec["chosen_ts_ms"]) >= int(old["chosen_ts_ms"]):
            latest[rec["frame_id"]] = rec
    if not latest:
        raise ExportError(f"{store.folder} has no copied samples (run `vigil sample` first)")
    return sorted(latest.values(), key=lambda r: (r["capture_ts_ms"], r["frame_id"]))


def _copy_images(store: DatasetStore, records: Iterable[Mapping[str, Any]], out: Path) -> int:
    n = 0
    for rec in records:
        src = store.folder / rec["image"]
        dst = out / "images" / Path(rec["image"]).name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        n += 1
    return n


def _pixel_box(d: Mapping[str, Any], w: int, h: int) -> tuple[float, float, float, float]:
    b = d["box"]
    x0 = min(max(float(b["x_min"]), 0.0), 1.0) * w
    y0 = min(max(float(b["y_min"]), 0.0), 1.0) * h
    x1 = min(max(float(b["x_max"]), 0.0), 1.0) * w
    y1 = min(max(float(b["y_max"]), 0.0), 1.0) * h
    return x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)


def labels_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({d["label"] for r in records for d in r["detections"]})


def coco(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The COCO document of ``records``: categories numbered 1.. in label order."""
    categories = {label: i for i, label in enumerate(labels_of(records), start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        w, h = int(rec["width"]), int(rec["height"])
        images.append(
            {
                "id": image_id,
                "file_name": Path(rec["image"]).name,
                "width": w,
                "height": h,
                "frame_id": rec["frame_id"],
                "camera_id": rec["camera_id"],
                "sample_id": rec["sample_id"],
                "capture_ts_ms": rec["capture_ts_ms"],
                "reasons": rec["reasons"],
                "privacy": rec.get("privacy"),
            }
        )
        for d in rec["detections"]:
            x, y, bw, bh = _pixel_box(d, w, h)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": categories[d["label"]],
                    "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                    "segmentation": [],
                    "score": round(float(d["score"]), 4),
                    "attributes": {"model": f"{rec['model_name']}@{rec['model_version']}"},
                }
            )
    return {
        "info": {"description": "Vigil samples for labelling (vigil dataset export)"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": label, "supercategory": ""} for label, i in categories.items()
        ],
    }


def label_config(labels: Iterable[str]) -> str:
    """The labelling interface: one image, a rectangle per labelled object."""
    tags = "\n".join(f"    <Label value={quoteattr(label, _QUOTE)}/>" for label in labels)
    return (
        "<View>\n"
        '  <Image name="image" value="$image"/>\n'
        '  <RectangleLabels name="label" toName="image">\n'
        f"{tags}\n"
        "  </RectangleLabels>\n"
        "</View>\n"
    )


def labelstudio(records: list[dict[str, Any]], image_url: Any) -> list[dict[str, Any]]:
    """The Label Studio tasks of ``records``; ``image_url(file_name)`` gives an image's URL."""
    tasks = []
    for rec in records:
        w, h = int(rec["width"]), int(rec["height"])
        result = []
        for i, d in enumerate(rec["detections"]):
            x, y, bw, bh = _pixel_box(d, w, h)
            region = hashlib.sha256(f"{rec['sample_id']}#{i}".encode()).hexdigest()[:10]
            result.append(
                {
                    "id": region,
                    "from_name": "label",
                    "to_name": "image",
                    "type": "rectanglelabels",
                    "original_width": w,
                    "original_height": h,
                    "image_rotation": 0,
                    "value": {
                        "x": round(100 * x / w, 4),
                        "y": round(100 * y / h, 4),
                        "width": round(100 * bw / w, 4),
                        "height": round(100 * bh / h, 4),
                        "rotation": 0,
                        "rectanglelabels": [d["label"]],
                    },
                    "score": round(float(d["score"]), 4),
                }
            )
        scores = [float(d["score"]) for d in rec["detections"]]
        tasks.append(
            {
                "data": {
                    "image": image_url(Path(rec["image"]).name),
                    "frame_id": rec["frame_id"],
                    "camera_id": rec["camera_id"],
                    "sample_id": rec["sample_id"],
                    "capture_ts_ms": rec["capture_ts_ms"],
                    "reasons": "; ".join(f"{r['kind']}: {r['detail']}" for r in rec["reasons"]),
                },
                "predictions": [
                    {
                        "model_version": f"{rec['model_name']}@{rec['model_version']}",
                        "score": round(min(scores), 4) if scores else 0.0,
                        "result": result,
                    }
                ],
            }
        )
    return tasks


def local_files_url(out: Path, document_root: Path, prefix: str = LOCAL_FILES) -> Any:
    """Image URLs under Label Studio's local storage: ``prefix`` + the image's path under
    ``document_root`` (LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)."""
    root = document_root.resolve()
    images = (out / "images").resolve()
    if not images.is_relative_to(root):
        raise ExportError(f"{images} is not under the document root {root} (--document-root)")
    rel = images.relative_to(root).as_posix()
    return lambda name: f"{prefix}{quote(f'{rel}/{name}')}"


def _write_json(path: Path, doc: Any) -> Path:
    write_atomically(path, json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n")
    return path


def export(
    store: DatasetStore,
    fmt: Format,
    out: Path,
    *,
    document_root: Path | None = None,
    url_prefix: str = LOCAL_FILES,
) -> Exported:
    """Write ``store``'s copied samples to ``out`` in ``fmt``, with their images."""
    records = frames(store)
    images = _copy_images(store, records, out)
    if fmt == "coco":
        doc = coco(records)
        path = _write_json(out / COCO_FILE, doc)
        return Exported(out, (path,), images, len(doc["annotations"]))
    url = local_files_url(out, document_root or out.parent, url_prefix)
    tasks = labelstudio(records, url)
    files = (
        _write_json(out / TASKS_FILE, tasks),
        out / CONFIG_FILE,
    )
    write_atomically(out / CONFIG_FILE, label_config(labels_of(records)).encode())
    count = sum(len(p["result"]) for t in tasks for p in t["predictions"])
    return Exported(out, files, images, count)
