"""The folder a GPU host needs beside the working tree to run ``scripts/gpu-check.sh`` with no
network (``make gpu-carry`` -> ``.gpu-carry/``, ignored by git, under 64 MiB in all):

- ``wheels/``: Vigil's runtime dependencies on the check's import path that a host with only
  torch, torchvision, onnx and onnxruntime lacks (pydantic and its parts, PyYAML, prometheus-
  client, confluent-kafka, onnx2torch), at the versions this machine's venv tested, for the
  host's Python (``--python``, 3.12 on the lent H200 hosts);
- ``models/``: the three default models, each as its graph without weights plus the weights
  rounded to FP16 in a compressed ``.npz`` (the SSD's FP32 ONNX alone is 64.3 MiB); ``unpack``
  on the host writes FP32 ONNX files back. Both ONNX Runtime and the GPU engines then run the
  same restored file, so the parity check compares engines on identical weights; the file's
  SHA-256 differs from the zoo's;
- ``frames/``: 64 frames of bikes.mp4 (640 x 272 JPEGs); the check makes the 640 x 360 and
  1080p sets from them.

``pack`` runs here (the project venv); ``unpack`` on the host needs only numpy and onnx.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

WHEELS = (
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "python-dotenv",
    "typing-inspection",
    "annotated-types",
    "PyYAML",
    "prometheus-client",
    "confluent-kafka",
)
ONNX2TORCH = "onnx2torch==1.5.15"  # the gpu extra's; not in the project venv (no torch here)
MODELS = ("ssd_mobilenet_v2_coco", "centerface", "faceres")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
LIMIT = 60 << 20  # the working tree travels too (64 MiB in all)


def download(out: Path, python: str) -> None:
    specs = [f"{n}=={importlib.metadata.version(n)}" for n in WHEELS] + [ONNX2TORCH]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", python, "--implementation", "cp", "-d", str(out)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    subprocess.run([*cmd, *specs], check=True)


def pack_model(src: Path, dst: Path) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src / "model.onnx"))
    weights: dict[str, np.ndarray] = {}
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size > 16:
            weights[init.name] = array.astype(np.float16)
            init.ClearField("raw_data")
            init.ClearField("float_data")
    dst.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst / "graph.onnx"))
    np.savez_compressed(dst / "weights.npz", **weights)
    for f in src.iterdir():
        if f.is_file() and f.suffix in (".yaml", ".json", ".npy"):
            shutil.copy2(f, dst / f.name)


def unpack_model(src: Path, dst: Path) -> None:
    import numpy as np
    import onnx

    model = onnx.load(str(src / "graph.onnx"))
    with np.load(src / "weights.npz") as weights:
        for init in model.graph.initializer:
            if init.name in weights:
                init.raw_data = weights[init.name].astype(np.float32).tobytes()
    dst.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst / "model.onnx"))
    for f in src.iterdir():
        if f.suffix in (".yaml", ".npy"):
            shutil.copy2(f, dst / f.name)  # model.json (the zoo's sha256) is left behind


def frames(dst: Path) -> None:
    from vigil.testing.media import bikes_jpegs

    dst.mkdir(parents=True, exist_ok=True)
    for i, jpeg in enumerate(bikes_jpegs(64, (640, 272), step=3)):
        (dst / f"bikes-{i:03d}.jpg").write_bytes(jpeg)


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def pack(out: Path, cache: Path, python: str) -> None:
    if out.exists():
        shutil.rmtree(out)
    download(out / "wheels", python)
    for name in MODELS:
        pack_model(cache / "models" / name, out / "models" / name)
    frames(out / "frames")
    total = size_of(out)
    for part in ("wheels", "models", "frames"):
        print(f"{part}: {size_of(out / part) / 2**20:.1f} MiB")
    print(f"{out}: {total / 2**20:.1f} MiB in all")
    if total > LIMIT:
        raise SystemExit(f"{out} is {total / 2**20:.1f} MiB: over {LIMIT >> 20} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="here: fill the carried folder")
    p.add_argument("--out", type=Path, default=Path(".gpu-carry"))
    p.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "vigil")
    p.add_argument("--python", default="3.12", help="the GPU host's Python (for binary wheels)")
    u = sub.add_parser("unpack", help="on the GPU host: FP32 ONNX files from the carried models")
    u.add_argument("src", type=Path)
    u.add_argument("dst", type=Path)
    args = parser.parse_args()
    if args.cmd == "pack":
        pack(args.out, args.cache_dir, args.python)
    else:
        for folder in sorted(p for p in args.src.iterdir() if p.is_dir()):
            unpack_model(folder, args.dst / folder.name)


if __name__ == "__main__":
    main()
