"""Ground truth in ClickHouse: ``<db>.labels`` (connectors/sinks/clickhouse/accuracy_tables.py).

An import is one INSERT of one row per labelled frame, so it is stored whole or not at all. A
frame imported again (a corrected export) is replaced: readers take each frame's newest import,
so re-importing the same file changes nothing and never doubles a frame."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from connectors.sinks.clickhouse.accuracy_tables import LABEL_COLUMNS
from evaluation.coco import GroundTruth
from evaluation.labels import LabelFile
from evaluation.matching import Det
from vigil.clickhouse import ClickHouseClient
from vigil.errors import VigilError

# SQL here is built from the configured database name (settings pattern) and a dataset name
# checked against DATASET, hence the S608 exemptions.

DATASET = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
DEFAULT_DATASET = "default"


class DatasetError(VigilError, ValueError):
    """A dataset name that cannot be used."""


def dataset_name(name: str) -> str:
    if not DATASET.match(name):
        raise DatasetError(f"dataset {name!r}: 1-64 of A-Z a-z 0-9 _ . : -")
    return name


@dataclass(frozen=True)
class LabelImport:
    import_id: str
    dataset: str
    frames: int
    objects: int
    categories: tuple[str, ...]
    source_file: str
    source_format: str
    skipped: int


def store_labels(
    client: ClickHouseClient, db: str, dataset: str, labels: LabelFile, now_ms: int | None = None
) -> LabelImport:
    """Store ``labels`` as one import of ``dataset``; its frames replace earlier labels."""
    dataset = dataset_name(dataset)
    import_id = uuid.uuid4().hex
    at = int(time.time() * 1000) if now_ms is None else now_ms
    cats = list(labels.truth.categories)
    source = str(labels.path.resolve())
    rows = []
    for fid, objects in sorted(labels.truth.frames.items()):
        boxes = [d.box for d in objects]
        rows.append(
            (
                dataset,
                fid,
                import_id,
                source,
                labels.format.value,
                at,
                cats,
                [d.label for d in objects],
                *([float(b[i]) for b in boxes] for i in range(4)),
            )
        )
    client.insert(f"{db}.labels", [name for name, _ in LABEL_COLUMNS], rows)
    return LabelImport(
        import_id,
        dataset,
        len(rows),
        labels.objects,
        tuple(cats),
        source,
        labels.format.value,
        labels.skipped,
    )


def stored_labels(client: ClickHouseClient, db: str, dataset: str) -> GroundTruth:
    """The dataset's ground truth: each frame as its newest import has it; the categories are
    those of every import still in use."""
    dataset = dataset_name(dataset)
    rows = client.query(
        "SELECT frame_id, imported_ms, import_id, categories, label, "  # noqa: S608
        f"x_min, y_min, x_max, y_max FROM {db}.labels FINAL WHERE dataset = '{dataset}'"
    )
    newest: dict[str, tuple[tuple[int, str], list[str], list[Det]]] = {}
    for fid, at, imp, cats, labels, x0, y0, x1, y1 in rows:
        key = (int(at), str(imp))
        if str(fid) in newest and newest[str(fid)][0] >= key:
            continue
        objects = [
            Det(str(lb), 1.0, (float(a), float(b), float(c), float(d)))
            for lb, a, b, c, d in zip(labels, x0, y0, x1, y1, strict=True)
        ]
        newest[str(fid)] = (key, [str(c) for c in cats], objects)
    categories = sorted({c for _k, cats, _o in newest.values() for c in cats})
    return GroundTruth({fid: v[2] for fid, v in newest.items()}, tuple(categories))


def datasets(client: ClickHouseClient, db: str) -> list[tuple[str, int]]:
    """(dataset, labelled frames) of every dataset stored."""
    rows = client.query(
        f"SELECT dataset, uniqExact(frame_id) FROM {db}.labels GROUP BY dataset ORDER BY dataset"  # noqa: S608
    )
    return [(str(d), int(n)) for d, n in rows]
