"""Candidate models and checks for the hot-swap tests: a copy of a detector under a new
version, promoted by hand on the registry, and what a read_committed reader sees afterwards."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from schemas.contracts import serde_for
from schemas.types import ModelRecord
from vigil import registry
from vigil.files import sha256_of
from vigil.testing import read_topic
from vigil.topics import Topic
from vigil_app.settings import VigilSettings


def candidate(
    spec_file: Path, folder: Path, version: str, *, sha256: str | None = None, **spec: Any
) -> ModelRecord:
    """A copy of the model of ``spec_file`` (spec YAML, ONNX and the files beside it) in
    ``folder`` with ``version`` (and ``spec``'s fields), and its PROMOTE record; ``sha256``
    overrides the ONNX's real hash (a record the file does not match)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    for item in spec_file.parent.iterdir():
        if item.is_file() and item.name != spec_file.name:
            shutil.copy(item, folder / item.name)
    raw.update(version=version, **spec)
    target = folder / "spec.yaml"
    target.write_text(yaml.safe_dump(raw), encoding="utf-8")
    digest = sha256_of(folder / raw["file"])
    return registry.new_record(
        action="PROMOTE",
        role="detector",
        name=raw["name"],
        version=version,
        model_version=f"{version}+{digest[:12]}",
        family=raw["family"],
        sha256=sha256 if sha256 is not None else digest,
        location=target.as_uri(),
        reason="hot-swap test",
    )


def promote(settings: VigilSettings, record: ModelRecord) -> None:
    registry.publish(settings, [(registry.production_key("detector"), record)])


def frame_offsets(settings: VigilSettings, count: int) -> dict[str, tuple[int, int]]:
    """frame id -> (partition, offset) on the frames topic."""
    messages = read_topic(settings, Topic.FRAMES, decode=False, want=count, timeout_s=60)
    serde = serde_for(settings, Topic.FRAMES)
    return {
        serde.decode(m)["frame_id"]: (int(m.partition() or 0), int(m.offset() or 0))
        for m in messages
    }


def events_of(settings: VigilSettings, action: str) -> list[ModelRecord]:
    return [e for e in registry.read_registry(settings).events if e["action"] == action]


def versions_by_partition(
    dets: list[Any], offsets: dict[str, tuple[int, int]]
) -> dict[int, list[tuple[int, str]]]:
    """Per frames partition, (frame offset, model_version) of each detection, in offset order."""
    out: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for d in dets:
        part, offset = offsets[d["frame_id"]]
        out[part].append((offset, d["model_version"]))
    return {p: sorted(v) for p, v in out.items()}


def assert_monotone(by_part: dict[int, list[tuple[int, str]]], old: str, new: str) -> None:
    """Each detection is of the old or the new version, and no old one follows a new one."""
    for part, seq in by_part.items():
        versions = [v for _, v in seq]
        assert set(versions) <= {old, new}, (part, set(versions))
        first_new = versions.index(new) if new in versions else len(versions)
        assert set(versions[first_new:]) <= {new}, (part, seq)
