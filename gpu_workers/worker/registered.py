"""The registry's production models as a worker starts: each role's record checked against its
file (location, family, sha256) before it is loaded, and a refusal made known (a REFUSE record
on vigil.models and a ``model:refused`` alert) when a model fails; the settings' model runs
then. :mod:`gpu_workers.worker.swap` follows the registry from there."""

from __future__ import annotations

import logging
from pathlib import Path

from gpu_workers.models.spec import load_spec
from gpu_workers.models.store import FAMILIES, RegistrationError, spec_path_of
from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.inference import Inference
from gpu_workers.worker.metrics import SWAPS
from schemas.types import ModelRecord
from vigil.errors import VigilError
from vigil.files import sha256_of
from vigil.notices import publish_alerts, system_alert
from vigil.registry import event_key, label, new_record, publish, read_registry

log = logging.getLogger("vigil.worker")

ROLE = "detector"
FACE_ROLES = ("face_detector", "embedder")  # read at start-up; no hot swap (module doc)
CATCH_UP_TIMEOUT_S = 10.0  # re-reading the registry when partitions are assigned


class SwapError(VigilError, RuntimeError):
    """A production model that cannot be run; the message says why (it is the REFUSE reason)."""


def same(a: ModelRecord | None, b: ModelRecord | None) -> bool:
    """Whether two production records name the same weights (None: the settings' model)."""
    if a is None or b is None:
        return a is b
    return (a["name"], a["version"], a["sha256"]) == (b["name"], b["version"], b["sha256"])


def verified_spec(record: ModelRecord, role: str = ROLE) -> tuple[Path, Path, str]:
    """The spec YAML, its ONNX and the ONNX's sha256, checked against ``record``; raises
    :class:`SwapError` (file missing, hash mismatch, not a detector)."""
    try:
        path = spec_path_of(record)
    except RegistrationError as exc:
        raise SwapError(str(exc)) from exc
    if not path.is_file():
        raise SwapError(f"spec {path} not found")
    spec = load_spec(path)
    if spec.family not in FAMILIES[role]:
        raise SwapError(f"{spec.name} is a {spec.family} model, not a {role} model")
    onnx = path.parent / spec.file
    if not onnx.is_file():
        raise SwapError(f"ONNX {onnx} not found")
    digest = sha256_of(onnx)
    if record["sha256"] and digest != record["sha256"]:
        raise SwapError(f"sha256 of {onnx} is {digest}, the registry says {record['sha256']}")
    return path, onnx, digest


def announce_refusal(
    settings: GpuWorkersSettings,
    instance: str,
    record: ModelRecord | None,
    reason: str,
    role: str = ROLE,
) -> None:
    """A REFUSE event on the registry and a ``model:refused`` alert (HIGH); never raises."""
    SWAPS.labels("refused").inc()
    name = record["name"] if record else str(getattr(settings.models, role))
    version = record["version"] if record else ""
    log.error("worker %s refuses detector %s: %s", instance, label(record), reason)
    event = new_record(
        action="REFUSE",
        role=role,
        name=name,
        version=version,
        model_version=record["model_version"] if record else "",
        sha256=record["sha256"] if record else "",
        location=record["location"] if record else "",
        reason=reason,
        details={"instance": instance},
    )
    alert = system_alert(
        "model:refused",
        f"model:refused:{instance}:{name}@{version}",
        f"{name}@{version}",
        severity="HIGH",
        details={"instance": instance, "role": role, "reason": reason},
    )
    try:
        publish(settings, [(event_key(role, instance, event["ts_ms"]), event)])
        publish_alerts(settings, [alert])
    except Exception as exc:  # the refusal is logged; the worker goes on with its model
        log.warning("could not publish the refusal of %s: %s", label(record), exc)


def production_inference(
    settings: GpuWorkersSettings, instance: str
) -> tuple[Inference, ModelRecord | None]:
    """At start-up: the registry's production detector, loaded (and the record it came from);
    the settings' model when the registry names none or the named one fails its checks. The
    registry's face models (``face_detector``, ``embedder``) are taken the same way, for the
    face cascade when it first loads."""
    reg = read_registry(settings)
    faces: dict[str, Path] = {}
    for role in FACE_ROLES:
        face = reg.current(role)
        if face is None:
            continue
        try:
            faces[role] = verified_spec(face, role)[0]
            log.info("production %s from the registry: %s", role, label(face))
        except Exception as exc:
            announce_refusal(settings, instance, face, str(exc), role)
            log.error("falling back to the settings' %s", role)
    record = reg.current(ROLE)
    if record is None:
        return Inference(settings, face_models=faces), None
    try:
        path, _onnx, _sha = verified_spec(record)
        inference = Inference(settings, detector=path, face_models=faces)
    except Exception as exc:  # whatever fails, production still runs (the settings' model)
        announce_refusal(settings, instance, record, str(exc))
        log.error("falling back to the settings' detector %s", settings.models.detector)
        return Inference(settings, face_models=faces), None
    log.info("production detector from the registry: %s", label(record))
    return inference, record
