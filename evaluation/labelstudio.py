"""Ground truth from a Label Studio JSON export (Export -> JSON: a list of tasks).

The format, as Label Studio documents it (https://labelstud.io/guide/task_format and
https://labelstud.io/tags/rectanglelabels): each task has ``data`` (the task's inputs, e.g.
``{"image": URL}``) and ``annotations``; an annotation has ``result`` items, ``was_cancelled``
and ``created_at``/``updated_at``; a ``rectanglelabels`` result's ``value`` holds ``x``, ``y``
(top-left corner before rotation), ``width``, ``height`` in percent (0-100) of the image,
``rotation`` in degrees and the ``rectanglelabels`` chosen; ``original_width`` and
``original_height`` are the image's pixels (not needed: percent is already normalised).

A task is a frame when ``data.frame_id`` (what ``vigil dataset export`` writes), or else the
file stem of its image URL or path (``?d=`` of a local-files URL), is the frame id. Per task the
latest annotation that was not cancelled counts (by ``updated_at``, else ``created_at``, else
its place in the list); one with no boxes is a labelled frame with no objects. Tasks with no
such annotation are not labelled and are skipped (counted). A rotated box becomes its
axis-aligned envelope. ``predictions`` (a model's pre-annotations) are never ground truth."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from evaluation.coco import GroundTruth, LabelsError
from evaluation.matching import Box, Det

IMAGE_KEYS = ("image", "img", "url", "image_url")


def frame_id_of(data: dict[str, Any]) -> str:
    fid = data.get("frame_id")
    if fid:
        return str(fid)
    ref = next((data[k] for k in IMAGE_KEYS if isinstance(data.get(k), str) and data[k]), None)
    if ref is None:
        ref = next((v for v in data.values() if isinstance(v, str) and "." in v), None)
    if ref is None:
        raise ValueError("data has no frame_id and no image URL or path")
    parsed = urlparse(ref)
    path = parse_qs(parsed.query).get("d", [parsed.path or ref])[0]
    stem = PurePosixPath(unquote(path)).stem
    if not stem:
        raise ValueError(f"no file name in the image reference {ref!r}")
    return stem


def _latest(annotations: list[Any]) -> dict[str, Any] | None:
    kept = [
        (str(a.get("updated_at") or a.get("created_at") or ""), i, a)
        for i, a in enumerate(annotations)
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(kept, key=lambda k: (k[0], k[1]))[2] if kept else None


def _box(value: dict[str, Any]) -> Box:
    x, y = float(value["x"]) / 100, float(value["y"]) / 100
    w, h = float(value["width"]) / 100, float(value["height"]) / 100
    angle = math.radians(float(value.get("rotation") or 0.0))
    if not angle:
        return (x, y, x + w, y + h)
    # rotated about the top-left corner: the envelope of the four corners
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return (min(xs), min(ys), max(xs), max(ys))


def parse_tasks(doc: Any, where: str) -> tuple[GroundTruth, int]:
    """(ground truth, tasks skipped as unlabelled) of an export's task list."""
    if not isinstance(doc, list):
        raise LabelsError(f"{where}: a Label Studio JSON export is a list of tasks")
    frames: dict[str, list[Det]] = {}
    labels: set[str] = set()
    skipped = 0
    for n, task in enumerate(doc):
        at = f"{where}: task {n} (id {task.get('id') if isinstance(task, dict) else '?'})"
        try:
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                raise ValueError("a task is an object with a 'data' object")
            annotation = _latest(list(task.get("annotations") or task.get("completions") or []))
            if annotation is None:
                skipped += 1
                continue
            fid = frame_id_of(task["data"])
            if fid in frames:
                raise ValueError(f"frame {fid!r} is in more than one task")
            objects = []
            for item in annotation.get("result") or []:
                if item.get("type") != "rectanglelabels":
                    continue
                value = item["value"]
                chosen = value["rectanglelabels"]
                if not isinstance(chosen, list) or len(chosen) != 1:
                    raise ValueError(f"result {item.get('id')!r}: one label per box, got {chosen}")
                objects.append(Det(str(chosen[0]), 1.0, _box(value)))
                labels.add(str(chosen[0]))
            frames[fid] = objects
        except KeyError as exc:
            raise LabelsError(f"{at}: missing {exc}") from None
        except (ValueError, TypeError, AttributeError) as exc:
            raise LabelsError(f"{at}: {exc}") from None
    return GroundTruth(frames, tuple(sorted(labels))), skipped
