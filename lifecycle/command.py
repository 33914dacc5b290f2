"""Running the user's training command, and checking what it produced.

The command is the user's (any trainer), run through the shell in a fresh folder with its
placeholders substituted; stdout and stderr go to ``command.log`` beside the output. It must
leave ``model.onnx`` in ``{output}``, with a ``spec.yaml`` beside it or not: without one, the
production model's spec is copied with the new version (same family, labels, pre-processing),
which fits a retrained copy of the same network. A failure, a timeout or an output that is not
a model is a :class:`RetrainError` naming it, and nothing else happens."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from vigil.errors import VigilError

LOG_TAIL = 2000


class RetrainError(VigilError, RuntimeError):
    """A retraining step failed; nothing was registered or promoted."""


@dataclass(frozen=True)
class CommandResult:
    spec: Path  # the candidate's spec YAML, its ONNX beside it
    log: Path
    returncode: int


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL:].strip()


def substitute(command: str, values: dict[str, str]) -> str:
    """``command`` with each ``{name}`` replaced by the shell-quoted value."""
    out = command
    for name, value in values.items():
        out = out.replace("{" + name + "}", shlex.quote(value))
    return out


def run_command(
    command: str,
    *,
    dataset: Path,
    output: Path,
    model: str,
    version: str,
    base_spec: Path,
    timeout_s: float,
) -> CommandResult:
    """Run the command; the candidate's spec (written from ``base_spec`` when the command
    wrote only ``model.onnx``)."""
    output.mkdir(parents=True, exist_ok=True)
    log = output.parent / f"{output.name}.log"
    line = substitute(
        command,
        {"dataset": str(dataset), "output": str(output), "model": model, "version": version},
    )
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S602  # the user's own command line, by design
            line,
            shell=True,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=output,
            start_new_session=True,  # a timeout kills the whole process group
            env={**os.environ, "VIGIL_RETRAIN_OUTPUT": str(output)},
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            raise RetrainError(
                f"the retraining command timed out after {timeout_s:.0f}s (log {log}): {_tail(log)}"
            ) from None
    if code != 0:
        raise RetrainError(f"the retraining command exited {code} (log {log}): {_tail(log)}")
    return CommandResult(_candidate_spec(output, base_spec, model, version), log, code)


def _candidate_spec(output: Path, base_spec: Path, model: str, version: str) -> Path:
    onnx = output / "model.onnx"
    spec = output / "spec.yaml"
    if spec.is_file():
        return spec
    if not onnx.is_file() or onnx.stat().st_size == 0:
        raise RetrainError(f"the retraining command wrote no model: {onnx} is missing or empty")
    try:
        base = yaml.safe_load(base_spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RetrainError(f"cannot read the production spec {base_spec}: {exc}") from exc
    base.update(name=model, version=version, file="model.onnx")
    spec.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return spec
