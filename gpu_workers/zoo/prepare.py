"""``vigil models prepare``: fetch, convert, verify and store each default model once.

Layout: ``<cache>/models/<name>/{model.onnx, spec.yaml, model.json, source/}`` plus
``<cache>/models/manifest.json`` listing every prepared model. A model whose ``model.json``
matches its recipe and whose ONNX still has the recorded sha256 is not rebuilt."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.progress import Progress

from gpu_workers.engines import OnnxRuntimeEngine
from gpu_workers.zoo.buildenv import build_python
from gpu_workers.zoo.catalog import BUILD_REQUIREMENTS, ZooModel, catalog
from gpu_workers.zoo.fetch import ZooError, download, extract
from gpu_workers.zoo.verify import verify
from vigil.files import sha256_of

CONVERT_DIR = Path(__file__).parent / "convert"
STEPS = 5  # download, extract, build env, convert, verify + store


@dataclass(frozen=True)
class Prepared:
    name: str
    path: Path
    entry: dict[str, Any]
    rebuilt: bool


def models_dir(cache_dir: Path) -> Path:
    return cache_dir / "models"


def read_entry(cache_dir: Path, name: str) -> dict[str, Any] | None:
    path = models_dir(cache_dir) / name / "model.json"
    if not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) else None


def is_prepared(cache_dir: Path, zoo: ZooModel) -> dict[str, Any] | None:
    """The entry when the cached copy is current and intact, else None."""
    entry = read_entry(cache_dir, zoo.spec.name)
    onnx = models_dir(cache_dir) / zoo.spec.name / "model.onnx"
    if entry is None or entry.get("recipe") != zoo.recipe or not onnx.is_file():
        return None
    return entry if sha256_of(onnx) == entry.get("sha256") else None


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    """One preparer at a time per cache (tests in parallel worktrees share it)."""
    root = models_dir(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(
    cache_dir: Path,
    names: Sequence[str] = (),
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> list[Prepared]:
    zoo = catalog()
    unknown = [n for n in names if n not in zoo]
    if unknown:
        raise ZooError(f"unknown model(s) {unknown}; the zoo has {sorted(zoo)}")
    chosen = [zoo[n] for n in (names or list(zoo))]
    done: list[Prepared] = []
    with _locked(cache_dir), contextlib.ExitStack() as stack:
        bar = progress or stack.enter_context(Progress(transient=True, disable=True))
        for model in chosen:
            done.append(_prepare_one(cache_dir, model, force, bar))
        write_manifest(cache_dir)
    return done


def _prepare_one(cache_dir: Path, zoo: ZooModel, force: bool, bar: Progress) -> Prepared:
    name = zoo.spec.name
    task = bar.add_task(f"{name}: checking cache", total=STEPS)
    final = models_dir(cache_dir) / name
    entry = None if force else is_prepared(cache_dir, zoo)
    if entry is not None:
        _write_spec(zoo, final)  # thresholds may change without touching the weights
        bar.update(task, completed=STEPS, description=f"{name}: already prepared")
        return Prepared(name, final, entry, rebuilt=False)
    bar.update(task, description=f"{name}: downloading {zoo.source.pin}")
    archive = download(zoo.source, cache_dir / "downloads")
    bar.update(task, advance=1, description=f"{name}: extracting and checking sha256")
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir(cache_dir)))
    try:
        sources = extract(zoo.source, archive, work / "source")
        bar.update(task, advance=1, description=f"{name}: build environment")
        python = build_python(cache_dir)
        bar.update(task, advance=1, description=f"{name}: converting ({zoo.script})")
        _convert(python, zoo, sources, work)
        bar.update(task, advance=1, description=f"{name}: verifying")
        diff = verify(zoo, work, sources)
        entry = _entry(zoo, work, sources, diff)
        _write_spec(zoo, work)
        (work / "model.json").write_text(json.dumps(entry, indent=2), encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    bar.update(task, advance=1, description=f"{name}: prepared")
    return Prepared(name, final, entry, rebuilt=True)


def _write_spec(zoo: ZooModel, folder: Path) -> None:
    text = yaml.safe_dump(zoo.spec.model_dump(mode="json"), sort_keys=False)
    path = folder / "spec.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _convert(python: Path, zoo: ZooModel, sources: list[Path], out: Path) -> None:
    cmd = [str(python), str(CONVERT_DIR / zoo.script), str(sources[0]), str(out), *zoo.script_args]
    # tf2onnx names folded constants in set order: a fixed hash seed makes the bytes repeatable
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=False, cwd=CONVERT_DIR, env=env
    )
    if done.returncode != 0 or not (out / "model.onnx").is_file():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise ZooError(f"{zoo.spec.name}: conversion failed: " + " | ".join(lines[-5:]))


def _entry(zoo: ZooModel, work: Path, sources: list[Path], diff: float) -> dict[str, Any]:
    onnx = work / "model.onnx"
    engine = OnnxRuntimeEngine(onnx, threads=1)
    spec = zoo.spec
    return {
        "name": spec.name,
        "family": spec.family,
        "version": spec.version,
        "recipe": zoo.recipe,
        "file": "model.onnx",
        "sha256": sha256_of(onnx),
        "bytes": onnx.stat().st_size,
        "source": {
            "registry": zoo.source.registry,
            "package": zoo.source.package,
            "version": zoo.source.version,
            "files": [
                {"member": f.member, "sha256": f.sha256, "stored_as": f"source/{p.name}"}
                for f, p in zip(zoo.source.files, sources, strict=True)
            ],
        },
        "licence": zoo.source.licence,
        "input": {
            "name": engine.input_spec.name,
            "shape": list(engine.input_spec.shape),
            "dtype": engine.input_spec.dtype,
            "size": list(spec.input_size) if spec.input_size else None,
            "layout": spec.layout,
            "colour_order": spec.colour_order,
        },
        "outputs": engine.output_names,
        "labels": spec.labels,
        "verification": {"max_abs_diff": diff, "tolerance": zoo.tolerance},
        "converter": {"script": zoo.script, "build_requirements": list(BUILD_REQUIREMENTS)},
        "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_manifest(cache_dir: Path) -> Path:
    """Rebuild ``manifest.json`` from the per-model entries (one writer at a time)."""
    root = models_dir(cache_dir)
    entries = {}
    for path in sorted(root.glob("*/model.json")):
        entry = read_entry(cache_dir, path.parent.name)
        if entry is not None:
            entries[path.parent.name] = entry
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"models": entries}, indent=2), encoding="utf-8")
    return manifest
