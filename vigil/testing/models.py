"""Real, different models made from a prepared one without a training framework: the same
weights under another spec (a score threshold, a version) in a file whose bytes differ, so it
has a sha256 of its own. Tests of the registry, the hot swap and the retraining loop use it, and
so does the demo's stand-in for a training command.

The file differs by its ONNX ``doc_string``: a protobuf field appended to the serialized
``ModelProto`` (field 6, a string; the last value of a field wins), which every ONNX reader
parses and which changes nothing the network computes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

DOC_STRING_TAG = b"\x32"  # ModelProto.doc_string: field 6, wire type 2 (length-delimited)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def marked_onnx(source: Path, target: Path, mark: str) -> None:
    """Copy ``source`` to ``target`` with ``mark`` as the model's doc_string."""
    text = mark.encode()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    with target.open("ab") as f:
        f.write(DOC_STRING_TAG + _varint(len(text)) + text)


def derived_model(
    spec_file: Path,
    out_dir: Path,
    *,
    version: str,
    mark: str | None = None,
    **spec_changes: Any,
) -> Path:
    """A model in ``out_dir`` (``spec.yaml`` + ``model.onnx``) made from the one ``spec_file``
    describes: ``version`` and ``spec_changes`` (``score_threshold=0.45``, ``name=...``) in its
    spec, its ONNX marked with ``mark`` (default: the version). Returns the new spec's path."""
    raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{spec_file}: not a model spec")
    onnx = spec_file.parent / str(raw.get("file", "model.onnx"))
    out_dir.mkdir(parents=True, exist_ok=True)
    marked_onnx(onnx, out_dir / "model.onnx", mark or f"vigil derived model {version}")
    raw.update(spec_changes, version=version, file="model.onnx")
    target = out_dir / "spec.yaml"
    target.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return target


def zoo_spec(cache_dir: Path, name: str = "ssd_mobilenet_v2_coco") -> Path:
    """The spec of a prepared zoo model (``vigil models prepare``)."""
    path = cache_dir / "models" / name / "spec.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `vigil models prepare {name}` first")
    return path
