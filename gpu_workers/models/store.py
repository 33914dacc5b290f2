"""The model store: registered models, copied and checksummed into the data directory (they
are the user's, not a cache that can be rebuilt), one immutable folder per version,
``<data_dir>/models/<name>/<version>/`` (``spec.yaml`` and
``model.onnx``), each announced on ``vigil.models`` (key ``model:<name>@<version>``, action
REGISTER). A worker loads a production model from the ``location`` its record names and
refuses a file whose sha256 differs from the record's.

A model is checked before it is stored: its spec parses (the field named when it does not), its
ONNX opens, agrees with the spec (input layout, outputs) and runs one image end to end. A
version once registered keeps its file: the same file again is a no-op, another file under the
same version is refused (give the spec a new version)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import yaml

from gpu_workers.models.files import identify
from gpu_workers.models.loader import build_adapter
from gpu_workers.models.spec import ModelSpec, SpecError, load_spec
from gpu_workers.models.types import ModelIdentity
from schemas.types import ModelRecord
from vigil import registry
from vigil.errors import VigilError
from vigil.files import sha256_of
from vigil.settings import CoreSettings

FAMILIES: dict[str, tuple[str, ...]] = {  # the model families each role can run
    "detector": ("ssd", "yolo"),
    "face_detector": ("centerface",),
    "embedder": ("embedder",),
}


class RegistrationError(VigilError, ValueError):
    """A model that cannot be registered; the message names the field or the file."""


def store_dir(settings: CoreSettings, name: str, version: str) -> Path:
    return settings.data_dir / "models" / name / version


def spec_path_of(record: ModelRecord) -> Path:
    """The spec YAML a record's ``location`` names (a ``file://`` URI)."""
    parsed = urlparse(record["location"])
    if parsed.scheme != "file":
        raise RegistrationError(
            f"{registry.label(record)}: location {record['location']!r} is not a file:// URI"
        )
    return Path(unquote(parsed.path))


def check_model(spec: ModelSpec, onnx_path: Path) -> ModelIdentity:
    """Open ``onnx_path`` as ``spec`` says and run one image through it; its identity."""
    if not onnx_path.is_file():
        raise RegistrationError(f"{spec.name}: file: {onnx_path} does not exist")
    sha = sha256_of(onnx_path)
    try:
        adapter = build_adapter(spec, onnx_path, threads=1, max_batch=1, sha256=sha)
        width, height = spec.input_size or (64, 64)
        adapter([np.full((height, width, 3), 114, dtype=np.uint8)])
    except SpecError as exc:
        raise RegistrationError(str(exc)) from exc
    except Exception as exc:  # ONNX Runtime's errors: not a model, wrong outputs, ...
        raise RegistrationError(
            f"{spec.name}: file: {onnx_path.name} does not run as a {spec.family} model: {exc}"
        ) from exc
    return adapter.identity


def register_model(
    settings: CoreSettings, spec_file: Path, *, who: str | None = None, reason: str = ""
) -> tuple[ModelRecord, bool]:
    """Check, copy and announce the model ``spec_file`` describes; its REGISTER record and
    whether it is new (False: this version was registered with this very file before)."""
    try:
        spec = load_spec(spec_file)
    except SpecError as exc:
        raise RegistrationError(str(exc)) from exc
    identity = check_model(spec, spec_file.parent / spec.file)
    known = registry.read_registry(settings).model(spec.name, spec.version)
    if known is not None:
        if known["sha256"] == identity.sha256:
            return known, False
        raise RegistrationError(
            f"{spec.name}@{spec.version}: version: already registered with another file "
            f"(sha256 {known['sha256'][:12]}, this one {identity.sha256[:12]}); a registered "
            "version never changes: give the spec a new version"
        )
    target = _store(settings, spec, spec_file.parent / spec.file)
    record = registry.new_record(
        action="REGISTER",
        name=spec.name,
        version=spec.version,
        model_version=identity.event_version,
        family=spec.family,
        sha256=identity.sha256,
        size_bytes=(target.parent / "model.onnx").stat().st_size,
        location=target.as_uri(),
        actor=who or registry.actor(),
        reason=reason,
        details={"source": str(spec_file.resolve())},
    )
    registry.publish(settings, [(registry.model_key(spec.name, spec.version), record)])
    return record, True


def _store(settings: CoreSettings, spec: ModelSpec, onnx_path: Path) -> Path:
    """Copy into the store (whole or not at all); the stored spec's path."""
    folder = store_dir(settings, spec.name, spec.version)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.version}-", dir=folder.parent))
    try:
        shutil.copyfile(onnx_path, staging / "model.onnx")
        raw = spec.model_dump(mode="json", exclude_defaults=False) | {"file": "model.onnx"}
        (staging / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
        if folder.exists():  # an earlier try that never reached the registry
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "spec.yaml"


def configured(settings: CoreSettings, ref: str) -> ModelRecord:
    """The settings' model of a role (``models.detector`` ...) as a record: what production
    is while the registry names none."""
    spec, onnx_path, identity = identify(ref, settings.cache_dir)
    given = Path(ref)
    spec_file = given if given.suffix in (".yaml", ".yml") else onnx_path.parent / "spec.yaml"
    return registry.new_record(
        action="UNKNOWN",
        name=spec.name,
        version=spec.version,
        model_version=identity.event_version,
        family=spec.family,
        sha256=identity.sha256,
        location=spec_file.resolve().as_uri() if spec_file.is_file() else "",
        reason="the model the settings name",
    )


def check_family(role: str, record: ModelRecord) -> None:
    families = FAMILIES.get(role, ())
    if record["family"] not in families:
        raise RegistrationError(
            f"{registry.label(record)} is a {record['family']} model; the {role} role runs "
            f"{' or '.join(families)} models"
        )
