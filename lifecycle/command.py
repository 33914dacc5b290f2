"""The user's training command: run by the shell in a process group of its own, with a
timeout (the whole group is killed), its output kept in a log file; then what it wrote is
checked and made a model spec Vigil can register."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from vigil.errors import VigilError


class RetrainFailed(VigilError, RuntimeError):
    """The command failed, timed out or wrote no usable model; nothing was registered."""


@dataclass(frozen=True)
class Placeholders:
    dataset: Path
    output: Path
    production_spec: Path
    run: str

    def env(self) -> dict[str, str]:
        return {
            "VIGIL_DATASET": str(self.dataset),
            "VIGIL_OUTPUT": str(self.output),
            "VIGIL_PRODUCTION_SPEC": str(self.production_spec),
            "VIGIL_RUN": self.run,
        }

    def fill(self, command: str) -> str:
        """``command`` with ``{dataset}``, ``{output}``, ``{production_spec}``, ``{run}``
        replaced by shell-quoted values (other braces are left as they are)."""
        out = command
        for key, value in self.env().items():
            name = key.removeprefix("VIGIL_").lower()
            out = out.replace("{" + name + "}", shlex.quote(value))
        return out


@dataclass(frozen=True)
class Ran:
    seconds: float
    log: Path


def tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_command(command: str, where: Placeholders, timeout_s: float, log: Path) -> Ran:
    """Run ``command``; raises :class:`RetrainFailed` on a non-zero exit or a timeout."""
    where.output.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S602 - the admin's own command line, from settings
            where.fill(command),
            shell=True,
            executable="/bin/bash",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **where.env()},
            start_new_session=True,  # its own process group: a timeout kills all of it
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise RetrainFailed(
                f"the training command ran past its timeout ({timeout_s:g} s) and was killed; "
                f"its log: {log}"
            ) from None
    if code != 0:
        raise RetrainFailed(
            f"the training command exited with {code}; its log ({log}) ends:\n{tail(log)}"
        )
    return Ran(time.monotonic() - t0, log)


def candidate_spec(output: Path, production_spec: Path, version: str) -> Path:
    """The spec of what the command wrote in ``output``: its own ``spec.yaml``, or
    production's spec for its ``model.onnx`` (or its only ``*.onnx``) under ``version``."""
    own = output / "spec.yaml"
    if own.is_file():
        return own
    onnx = output / "model.onnx"
    if not onnx.is_file():
        found = sorted(output.glob("*.onnx"))
        if len(found) != 1:
            listing = ", ".join(p.name for p in sorted(output.iterdir())) or "nothing"
            raise RetrainFailed(
                f"the training command wrote no model.onnx (nor one *.onnx) in {output}: {listing}"
            )
        onnx = found[0]
    try:
        raw = yaml.safe_load(production_spec.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RetrainFailed(f"cannot read production's spec {production_spec}: {exc}") from exc
    raw.update(version=version, file=onnx.name)
    own.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return own
