"""Promotion and rollback of a role's production model on the registry (vigil/registry.py),
behind a gate: the eval report (``vigil eval``) of the candidate against the production model
must compare enough frames and meet the ``promotion`` thresholds (agreement, recall per label,
mAP@0.5 when the report has labels, alert changes when it replayed rules). A report that
misses refuses the promotion with every reason; ``force`` promotes anyway and the record says
so (``forced``, the failures in its eval summary) — the registry is the audit trail.

A promotion writes the role's production record and a history record in one transaction;
a rollback pops the last promotion still in force (the model before it, or the settings'
model, is production again)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.settings import PromotionProcessSettings, PromotionSettings
from gpu_workers.models.store import check_family, configured
from schemas.types import EvalSummary, ModelRecord
from vigil import registry
from vigil.errors import VigilError
from vigil.registry import Registry, RegistryError, check_role

# what a role's record copies of the model it names
MODEL_FIELDS = ("name", "version", "model_version", "family", "sha256", "size_bytes", "location")


class PromotionRefused(VigilError, RuntimeError):
    """The gate said no (or there is no report to decide on); the message has every reason."""


@dataclass(frozen=True)
class Gate:
    """The gate's verdict on one report."""

    report: Path | None
    failures: list[str] = field(default_factory=list)
    frames_compared: int = 0
    agreement: float | None = None
    map50: float | None = None

    @property
    def passed(self) -> bool:
        return self.report is not None and not self.failures

    def summary(self, baseline: str, candidate: str) -> EvalSummary:
        return {
            "report": str(self.report or ""),
            "baseline": baseline,
            "candidate": candidate,
            "frames_compared": self.frames_compared,
            "agreement": self.agreement,
            "map50": self.map50,
            "passed": self.passed,
            "failures": list(self.failures),
        }


def recorded(record: ModelRecord) -> str:
    """``name@model_version``: the model as DetectionEvents (and so eval reports) name it."""
    return f"{record['name']}@{record['model_version'] or record['version']}"


def _same_model(report_model: str, record: ModelRecord) -> bool:
    name, _, version = report_model.partition("@")
    wanted = {record["model_version"], record["version"]}
    return name == record["name"] and (version in wanted or version.split("+")[0] in wanted)


def check_gate(report: Mapping[str, Any], path: Path, cfg: PromotionSettings) -> Gate:
    """Every threshold ``report`` misses (an empty list: it passes)."""
    failures: list[str] = []
    frames = int(report.get("frames_compared") or 0)
    if frames < cfg.min_frames:
        failures.append(f"frames_compared {frames} < min_frames {cfg.min_frames}")
    agreement = report.get("agreement")
    if cfg.min_agreement is not None and (agreement is None or agreement < cfg.min_agreement):
        failures.append(f"agreement {_f(agreement)} < min_agreement {cfg.min_agreement}")
    per_label = (report.get("candidate_vs_baseline") or {}).get("per_label") or {}
    for label_name, row in sorted(per_label.items()):
        objects = int(row.get("matched", 0)) + int(row.get("baseline_only", 0))
        minimum = cfg.label_recall.get(label_name, cfg.min_recall)
        if minimum is None or objects < cfg.min_label_objects:
            continue
        recall = row.get("recall")
        if recall is None or recall < minimum:
            failures.append(
                f"recall of {label_name!r} {_f(recall)} < {minimum} ({objects} production "
                "detections)"
            )
    labels = report.get("labels")
    map50 = None
    if labels:
        map50 = (labels.get("candidate") or {}).get("map50")
        base_map = (labels.get("baseline") or {}).get("map50")
        if cfg.min_map50 is not None and (map50 is None or map50 < cfg.min_map50):
            failures.append(f"mAP@0.5 {_f(map50)} < min_map50 {cfg.min_map50}")
        if (
            cfg.max_map50_drop is not None
            and map50 is not None
            and base_map is not None
            and map50 < base_map - cfg.max_map50_drop
        ):
            failures.append(
                f"mAP@0.5 {_f(map50)} is more than {cfg.max_map50_drop} below production's "
                f"{_f(base_map)}"
            )
    alerts = report.get("alerts")
    if alerts and cfg.max_alert_changes is not None:
        changes = len(alerts.get("added") or []) + len(alerts.get("removed") or [])
        if changes > cfg.max_alert_changes:
            failures.append(f"{changes} alerts added or removed > {cfg.max_alert_changes}")
    return Gate(path, failures, frames, agreement, map50)


def _f(value: object) -> str:
    return "none" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def find_report(
    eval_dir: Path, baseline: ModelRecord, candidate: ModelRecord, max_age_h: float
) -> Path | None:
    """The newest ``report.json`` under ``eval_dir`` comparing ``candidate`` with
    ``baseline`` and younger than ``max_age_h``."""
    oldest = time.time() - max_age_h * 3600
    found: list[tuple[float, Path]] = []
    for path in eval_dir.glob("*/report.json"):
        try:
            mtime = path.stat().st_mtime
            if mtime < oldest:
                continue
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _same_model(str((report.get("baseline") or {}).get("model", "")), baseline) and (
            _same_model(str((report.get("candidate") or {}).get("model", "")), candidate)
        ):
            found.append((mtime, path))
    return max(found)[1] if found else None


def gate_for(
    settings: PromotionProcessSettings,
    baseline: ModelRecord,
    candidate: ModelRecord,
    report_path: Path | None,
) -> Gate:
    """The gate's verdict on ``report_path`` (default: the newest matching report)."""
    cfg = settings.promotion
    path = report_path or find_report(
        settings.data_dir / "eval", baseline, candidate, cfg.max_report_age_h
    )
    if path is None:
        return Gate(
            None,
            [
                f"no eval report of {recorded(candidate)} against production "
                f"{recorded(baseline)} in {settings.data_dir / 'eval'} (younger than "
                f"{cfg.max_report_age_h:g} h): replay frames through the candidate and run "
                f"`vigil eval --baseline {recorded(baseline)} --candidate {recorded(candidate)}`"
            ],
        )
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Gate(None, [f"{path}: cannot read the report: {exc}"])
    problems = []
    for side, record in (("baseline", baseline), ("candidate", candidate)):
        named = str((report.get(side) or {}).get("model", ""))
        if not _same_model(named, record):
            problems.append(f"{path}: its {side} is {named}, not {recorded(record)}")
    if problems:
        return Gate(path, problems)
    return check_gate(report, path, cfg)


def production_of(settings: PromotionProcessSettings, reg: Registry, role: str) -> ModelRecord:
    """The production model of ``role``: the registry's, else the settings'."""
    current = reg.current(role)
    if current is not None:
        return current
    return configured(settings, getattr(settings.models, role))


def promote(
    settings: PromotionProcessSettings,
    name: str,
    version: str,
    role: str,
    *,
    report: Path | None = None,
    force: bool = False,
    reason: str = "",
    who: str | None = None,
) -> tuple[ModelRecord, Gate]:
    """Make ``name@version`` (registered) production of ``role`` if the gate passes (or
    ``force``); raises :class:`PromotionRefused` with the gate's reasons otherwise."""
    role = check_role(role)
    reg = registry.read_registry(settings)
    candidate = reg.model(name, version)
    if candidate is None:
        raise RegistryError(
            f"{name}@{version} is not registered: `vigil models register SPEC.yaml` first"
        )
    check_family(role, candidate)
    current = production_of(settings, reg, role)
    if recorded(current) == recorded(candidate):
        raise RegistryError(f"{name}@{version} is already production of {role}")
    gate = gate_for(settings, current, candidate, report)
    if not gate.passed and not force:
        raise PromotionRefused(
            f"promotion of {name}@{version} to {role} refused: " + "; ".join(gate.failures)
        )
    record = registry.new_record(
        **{k: v for k, v in candidate.items() if k in MODEL_FIELDS},
        action="PROMOTE",
        role=role,
        actor=who or registry.actor(),
        reason=reason or ("forced past the gate" if not gate.passed else "the gate passed"),
        forced=not gate.passed,
        replaces=registry.label(reg.current(role)) if reg.current(role) else recorded(current),
        eval=gate.summary(recorded(current), recorded(candidate)),
    )
    _write(settings, role, record, record)
    return record, gate


def rollback(
    settings: PromotionProcessSettings, role: str, *, reason: str = "", who: str | None = None
) -> ModelRecord:
    """Undo the last promotion of ``role`` still in force; the ROLLBACK record (its name and
    version: the model production is again, empty for the settings' model)."""
    role = check_role(role)
    reg = registry.read_registry(settings)
    chain = reg.chain(role)
    if not chain:
        raise RegistryError(f"nothing to roll back: {role} runs the model the settings name")
    undone = chain[-1]
    back = chain[-2] if len(chain) > 1 else None
    record = registry.new_record(
        **({k: v for k, v in back.items() if k in MODEL_FIELDS} if back else {}),
        action="ROLLBACK",
        role=role,
        actor=who or registry.actor(),
        reason=reason or f"rolled back {registry.label(undone)}",
        replaces=registry.label(undone),
    )
    _write(settings, role, record if back else None, record)
    return record


def _write(
    settings: PromotionProcessSettings,
    role: str,
    production: ModelRecord | None,
    entry: ModelRecord,
) -> None:
    registry.publish(
        settings,
        [
            (registry.production_key(role), production),
            (registry.history_key(role, entry["ts_ms"]), entry),
        ],
    )
