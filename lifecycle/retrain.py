"""One turn of the retraining loop: export the labelled dataset, run the user's training
command, register what it wrote as a candidate, replay the last hours of frames through it,
evaluate it against production, and promote it when the gate passes and ``auto_promote`` is
on (else leave it registered and say so in an alert). A failure at any step (the command's
exit, its timeout, a bad model, no frames to compare) is an alert and changes nothing past
that step: the production model stays, and a registered candidate stays a candidate.

Every turn has a folder ``<data_dir>/retrain/<run>/``: the dataset it exported, what the
command wrote (``output/``) and its log (``command.log``); ``vigil models history`` shows the
candidate it registered and any promotion, with the eval report it was decided on."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from connectors.sinks.dataset.copier import store_of
from connectors.sinks.dataset.export import ExportError, export
from evaluation.candidate_run import evaluate_candidate
from evaluation.promotion import Gate, gate_for, production_of, promote, recorded
from evaluation.source import SelectionError
from gpu_workers.models.store import RegistrationError, register_model, spec_path_of
from gpu_workers.replay.bounds import OutOfRetention
from lifecycle.command import Placeholders, RetrainFailed, candidate_spec, run_command
from lifecycle.settings import RetrainProcessSettings
from lifecycle.triggers import Due, State, check_triggers, state_file
from schemas.types import ModelRecord
from vigil import registry
from vigil.clickhouse import connect
from vigil.notices import Severity, publish_alerts, system_alert

ACTOR = "vigil retrain"
Status = Literal["off", "not_due", "failed", "candidate", "promoted"]
Say = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    run: str
    status: Status
    message: str
    due: Due | None = None
    candidate: ModelRecord | None = None
    gate: Gate | None = None
    report: Path | None = None
    folder: Path | None = None


def run_once(
    settings: RetrainProcessSettings, *, force: bool = False, say: Say | None = None
) -> Outcome:
    """One turn: nothing unless a trigger fired (or ``force``), and never twice within
    ``min_interval_h`` unless forced."""
    cfg = settings.retrain
    tell = say or (lambda _text: None)
    run = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if not cfg.command:
        return Outcome(run, "off", "retrain.command is not set: retraining is off")
    reg = registry.read_registry(settings)
    production = production_of(settings, reg, cfg.role)
    state = State.load(state_file(settings))
    client = connect(settings)
    try:
        due = check_triggers(settings, client, production, state)
    finally:
        client.close()  # chDB: one session per directory, and the eval opens its own
    if not force and not due.due:
        why = (
            f"the last run was less than {cfg.min_interval_h:g} h ago"
            if due.fired
            else "no trigger fired"
        )
        return Outcome(run, "not_due", f"not due: {why}", due)
    folder = settings.data_dir / "retrain" / run
    outcome = _turn(settings, run, folder, production, due, tell)
    State(time.time_ns() // 1_000_000, run, outcome.status).save(state_file(settings))
    _prune(settings.data_dir / "retrain", cfg.keep_runs)
    _alert(settings, outcome, production)
    return outcome


def _turn(
    settings: RetrainProcessSettings,
    run: str,
    folder: Path,
    production: ModelRecord,
    due: Due,
    tell: Say,
) -> Outcome:
    cfg = settings.retrain
    why = "; ".join(due.fired) or "forced"
    prod_spec = spec_path_of(production)
    try:
        tell("exporting the labelled dataset")
        dataset = export(store_of(settings), "coco", folder / "dataset").out
        where = Placeholders(dataset, folder / "output", prod_spec, run)
        tell(f"running the training command (timeout {cfg.timeout_s:g} s)")
        ran = run_command(cfg.command or "", where, cfg.timeout_s, folder / "command.log")
        tell(f"the command finished in {ran.seconds:.1f} s; registering its model")
        spec = candidate_spec(where.output, prod_spec, f"{production['version']}-r{run}")
        candidate, _new = register_model(
            settings, spec, who=ACTOR, reason=f"retrained ({why}) in run {run}"
        )
    except (RetrainFailed, RegistrationError, ExportError, OSError) as exc:
        return Outcome(run, "failed", str(exc), due, folder=folder)
    now = time.time_ns() // 1_000_000
    try:
        checked = evaluate_candidate(
            settings,
            spec_path_of(candidate),
            recorded(production),
            now - int(cfg.replay_hours * 3_600_000),
            now,
            cameras=cfg.cameras,
            folder=f"retrain-{run}",
            partial=True,
            status=tell,
        )
    except (SelectionError, OutOfRetention, LookupError, ValueError, TimeoutError) as exc:
        return Outcome(
            run,
            "failed",
            f"{registry.label(candidate)} is registered but could not be evaluated: {exc}",
            due,
            candidate,
            folder=folder,
        )
    gate = gate_for(settings, production, candidate, checked.json_path)
    if gate.passed and cfg.auto_promote:
        promote(
            settings,
            candidate["name"],
            candidate["version"],
            cfg.role,
            report=checked.json_path,
            reason=f"retrained ({why}); the gate passed",
            who=ACTOR,
        )
        msg = f"{registry.label(candidate)} passed the gate and is production of {cfg.role}"
        return Outcome(run, "promoted", msg, due, candidate, gate, checked.json_path, folder)
    if gate.passed:
        msg = (
            f"{registry.label(candidate)} passed the gate; auto_promote is off: "
            f"`vigil models promote {registry.label(candidate)} --role {cfg.role}`"
        )
    else:
        msg = f"{registry.label(candidate)} did not pass the gate: " + "; ".join(gate.failures)
    return Outcome(run, "candidate", msg, due, candidate, gate, checked.json_path, folder)


SEVERITY: dict[str, Severity] = {"failed": "HIGH", "candidate": "MEDIUM", "promoted": "INFO"}


def _alert(settings: RetrainProcessSettings, outcome: Outcome, production: ModelRecord) -> None:
    """Every turn that ran says how it went on vigil.alerts."""
    candidate = outcome.candidate
    publish_alerts(
        settings,
        [
            system_alert(
                f"retrain:{outcome.status}",
                f"retrain:{outcome.status}:{outcome.run}",
                registry.label(candidate) if candidate else settings.retrain.role,
                severity=SEVERITY.get(outcome.status, "MEDIUM"),
                details={
                    "run": outcome.run,
                    "message": outcome.message[:2000],
                    "production": recorded(production),
                    "candidate": recorded(candidate) if candidate else "",
                    "report": str(outcome.report or ""),
                    "folder": str(outcome.folder or ""),
                    "triggers": "; ".join(outcome.due.fired) if outcome.due else "",
                },
            )
        ],
    )


def _prune(root: Path, keep: int) -> None:
    runs = sorted(p for p in root.iterdir() if p.is_dir())
    for old in runs[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
