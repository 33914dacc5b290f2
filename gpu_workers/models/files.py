"""Where a model's files are (a prepared zoo model by name, or a user's spec YAML + ONNX) and
what it is, without loading it: no adapter, no OpenCV, so the GPU check can use it on a host
that lacks Vigil's full stack."""

from __future__ import annotations

import json
from pathlib import Path

from gpu_workers.models.spec import ModelSpec, SpecError, load_spec
from gpu_workers.models.types import ModelIdentity
from vigil.errors import VigilError
from vigil.files import sha256_of


class ModelNotPrepared(VigilError, LookupError):
    """A zoo model was asked for before ``vigil models prepare`` made it."""


def locate(ref: str | Path, cache_dir: Path) -> tuple[ModelSpec, Path, str]:
    """The spec, the ONNX file and its sha256 ("" when no record of it was kept: hash the file)
    of ``ref``: a zoo name (``ssd_mobilenet_v2_coco``) or a path to a spec YAML whose ``file``
    is the ONNX beside it."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml"):
        spec = load_spec(path)
        return spec, path.parent / spec.file, ""
    folder = cache_dir / "models" / str(ref)
    spec_file = folder / "spec.yaml"
    if not spec_file.is_file():
        raise ModelNotPrepared(
            f"model {ref!r} is not prepared in {cache_dir / 'models'}: run `vigil models prepare "
            f"{ref}` (or pass a spec YAML for your own ONNX)"
        )
    spec = load_spec(spec_file)
    sha = ""  # the recorded hash saves hashing 70 MB on every load
    entry_file = folder / "model.json"
    if entry_file.is_file():
        sha = str(json.loads(entry_file.read_text(encoding="utf-8")).get("sha256", ""))
    return spec, folder / spec.file, sha


def identify(ref: str | Path, cache_dir: Path) -> tuple[ModelSpec, Path, ModelIdentity]:
    """What a model is, without loading it: spec, ONNX path and identity (as events record it)."""
    spec, onnx_path, sha = locate(ref, cache_dir)
    if not sha:
        try:
            sha = sha256_of(onnx_path)
        except OSError as exc:
            raise SpecError(f"{spec.name}: file: cannot read {onnx_path}: {exc}") from exc
    return spec, onnx_path, ModelIdentity(spec.name, spec.version, sha)
