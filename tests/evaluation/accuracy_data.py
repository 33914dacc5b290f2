"""Hand-made labels and recorded detections for the accuracy tests, with the figures worked out
by hand (see EXPECTED): two model versions on production's topic, a candidate on the
candidates' topic, cameras ``a`` and ``b``, yesterday (D1) and today (D2, UTC)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from connectors.sinks.base import BatchPolicy
from connectors.sinks.clickhouse.rows import detection_rows
from connectors.sinks.clickhouse.schema import Retention, migrate
from connectors.sinks.clickhouse.writer import ClickHouseWriter
from schemas.types import DetectionEvent
from vigil.clickhouse import ClickHouseClient
from vigil.testing import samples

DAY_MS = 86_400_000
D2_MS = (int(time.time() * 1000) // DAY_MS) * DAY_MS + 60_000  # today 00:01 UTC
D1_MS = D2_MS - DAY_MS
D1 = datetime.fromtimestamp(D1_MS / 1000, UTC).date()
D2 = datetime.fromtimestamp(D2_MS / 1000, UTC).date()
W, H = 640, 480
PERSON = (0.1, 0.1, 0.3, 0.5)
CAR = (0.5, 0.5, 0.9, 0.9)
ELSEWHERE = (0.6, 0.1, 0.8, 0.5)  # no overlap with PERSON

# frame id -> (camera, capture ms, labelled objects); x-9 is labelled but never recorded
LABELS: dict[str, tuple[str, int, list[tuple[str, tuple[float, ...]]]]] = {
    "a-0": ("a", D1_MS, [("person", PERSON), ("car", CAR)]),
    "a-1": ("a", D1_MS + 1000, [("person", PERSON)]),
    "b-2": ("b", D1_MS + 2000, [("car", CAR)]),
    "a-3": ("a", D2_MS, [("person", PERSON)]),
    "a-4": ("a", D2_MS + 1000, []),  # labelled: nothing there
    "x-9": ("a", D2_MS, []),
}
Dets = list[tuple[str, float, tuple[float, ...]]]
RECORDED: dict[str, dict[str, Dets]] = {
    "1": {
        "a-0": [("person", 0.9, PERSON), ("car", 0.6, CAR)],
        "a-1": [("person", 0.8, ELSEWHERE)],
        "b-2": [("car", 0.7, CAR), ("dog", 0.9, PERSON)],  # dog: no such category, ignored
        "a-3": [("person", 0.9, PERSON)],
        "a-4": [("person", 0.4, PERSON)],
    },
    "2": {
        "a-0": [("person", 0.9, PERSON)],
        "a-1": [("person", 0.8, PERSON)],
        "b-2": [("car", 0.7, CAR)],
        "a-3": [],
        "a-4": [],
    },
}
AP_HALF = 51 / 101  # COCO 101-point AP of [TP, FP] with two objects: recall 0.5 at precision 1

# (version, camera, day) -> frames, objects, detections, tp, fp, fn, precision, recall, map50
EXPECTED: dict[tuple[str, str, date], tuple[Any, ...]] = {
    ("1", "a", D1): (2, 3, 3, 2, 1, 1, 2 / 3, 2 / 3, (AP_HALF + 1) / 2),
    ("1", "b", D1): (1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0),
    ("1", "*", D1): (3, 4, 4, 3, 1, 1, 0.75, 0.75, (AP_HALF + 1) / 2),
    ("1", "a", D2): (2, 1, 2, 1, 1, 0, 0.5, 1.0, 1.0),
    ("1", "*", D2): (2, 1, 2, 1, 1, 0, 0.5, 1.0, 1.0),
    ("2", "a", D1): (2, 3, 2, 2, 0, 1, 1.0, 2 / 3, 0.5),
    ("2", "b", D1): (1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0),
    ("2", "*", D1): (3, 4, 3, 3, 0, 1, 1.0, 0.75, (1 + AP_HALF) / 2),
    ("2", "a", D2): (2, 1, 0, 0, 0, 1, 1.0, 0.0, 0.0),
    ("2", "*", D2): (2, 1, 0, 0, 0, 1, 1.0, 0.0, 0.0),
}


def coco_file(path: Path, frames: dict[str, Any] | None = None) -> Path:
    """LABELS (or ``frames``, same shape) as a COCO file like ``vigil dataset export`` writes."""
    frames = LABELS if frames is None else frames
    cats = {"person": 1, "car": 3}
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, (fid, (_cam, _ms, objects)) in enumerate(sorted(frames.items()), start=1):
        images.append(
            {"id": i, "file_name": f"{fid}.jpg", "frame_id": fid, "width": W, "height": H}
        )
        for label, (x0, y0, x1, y1) in objects:
            bbox = [x0 * W, y0 * H, (x1 - x0) * W, (y1 - y0) * H]
            anns.append(
                {"id": len(anns) + 1, "image_id": i, "category_id": cats[label], "bbox": bbox}
            )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": v, "name": k} for k, v in cats.items()],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def box(b: tuple[float, ...]) -> dict[str, float]:
    return dict(zip(("x_min", "y_min", "x_max", "y_max"), b, strict=True))


def event(fid: str, version: str, dets: Dets, model: str = "ssd") -> DetectionEvent:
    camera, ms, _objects = LABELS[fid]
    record = samples.detection_event()
    template = record["detections"][1]
    record.update(
        frame_id=fid,
        camera_id=camera,
        sequence=int(fid.split("-")[1]),
        capture_ts_ms=ms,
        inference_ts_ms=ms + 40,
        model_name=model,
        model_version=version,
        detections=[{**template, "label": lb, "score": s, "box": box(b)} for lb, s, b in dets],
    )
    return cast(DetectionEvent, record)


def record_detections(client: ClickHouseClient, db: str, prod: str, cand: str) -> None:
    """The sink's tables with RECORDED on ``prod``; version 1 of a-0 recorded twice (the later
    record counts); candidate ``ssd@3`` on ``cand`` detects nothing."""
    migrate(client, db, Retention())
    writer = ClickHouseWriter(client, db, BatchPolicy())
    items = [(event("a-0", "1", []), prod)]  # superseded by the second record of a-0 below
    for version, frames in RECORDED.items():
        items += [(event(fid, version, dets), prod) for fid, dets in frames.items()]
    items += [(event(fid, "3", []), cand) for fid in ("a-3", "a-4")]
    for offset, (record, topic) in enumerate(items):
        mapped = detection_rows(record, (topic, 0, offset))
        writer.add(mapped, mapped.row_count)
    writer.flush()
