"""The GPU check (``vigil gpu-check``; ``scripts/gpu-check.sh`` runs ``python -m
gpu_workers.gpu.check`` on a GPU host that has only torch and the carried folder):

1. the host: GPU, driver, torch / CUDA / cuDNN / torchvision / TensorRT versions;
2. parity: every default model through each GPU engine here (torch FP32, torch with FP16 where
   its probe allows, TensorRT where installed) against ONNX Runtime on the CPU over the same
   inputs (real frames decoded and preprocessed by the torch path): max abs difference per
   output, pass or fail against the stated tolerance (FP32 1e-3; FP16 1 % of the output's
   largest magnitude + 1e-3);
3. throughput (``--all``): decode only, preprocess only, infer only, decode + preprocess +
   infer, and the worker's whole path (+ image statistics and postprocessing) in frames/s at
   batch 1, 8, 32 and 64, on bikes.mp4 frames (640 x 272), the same at 640 x 360 and at 1080p;
4. one JSON with all of it.

``--device cpu`` runs every step on the CPU (torch's CPU device): the dry run that shows the
script works before a GPU host is lent; its figures are not GPU figures and say so."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpu_workers.engines.base import EngineError
from gpu_workers.engines.onnxruntime import OnnxRuntimeEngine
from gpu_workers.engines.stack import require, torch_device
from gpu_workers.engines.torchcuda import (
    FP16_ABSOLUTE,
    FP16_RELATIVE,
    FP32_TOLERANCE,
    within_fp16_tolerance,
)
from gpu_workers.gpu.decode import DeviceDecoder
from gpu_workers.gpu.throughput import GOAL_FPS, SIZES, best, throughput
from gpu_workers.gpu.trial import (
    BATCHES,
    DEFAULT_MODELS,
    GpuCheckError,
    Options,
    build_engine,
    cycle,
    encoded,
    gpu_engines,
    load_frames,
    model_preprocess,
    pil_decode,
    precision_of,
    to_engine,
)
from gpu_workers.models.files import locate
from vigil.errors import VigilError

log = logging.getLogger("vigil.gpucheck")
PARITY_BATCH = 8


# -- the check --------------------------------------------------------------------------------


def host_info(torch: Any, device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.startswith("cuda") else None,
        "device": device,
    }
    for name in ("torchvision", "onnxruntime", "onnx2torch", "tensorrt"):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
        )
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=True,
            )
            info["driver"] = smi.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError, IndexError):
            info["driver"] = None
    return info


def parity(opts: Options, device: str, frames: list[bytes]) -> list[dict[str, Any]]:
    decoder = DeviceDecoder(device, pil_decode)
    decoded = decoder(encoded(cycle(frames, PARITY_BATCH)))
    rows: list[dict[str, Any]] = []
    for name in opts.models:
        spec, path, _sha = locate(name, opts.cache_dir)
        batch, _ = model_preprocess(spec, device)(decoded)
        reference = OnnxRuntimeEngine(path, threads=os.cpu_count() or 2, max_batch=PARITY_BATCH)
        outputs = reference.output_names
        want = reference.infer(batch.cpu().numpy())
        for kind in gpu_engines(device):
            row: dict[str, Any] = {"model": name, "engine": kind, "batch": PARITY_BATCH}
            try:
                engine = build_engine(kind, path, outputs, device, opts.cache_dir)
                got = to_engine(engine, batch)
            except Exception as exc:  # reported in the JSON, the check goes on
                row.update(passed=False, error=f"{type(exc).__name__}: {exc}")
                opts.errors.append(f"parity {name} {kind}: {traceback.format_exc(limit=3)}")
                rows.append(row)
                continue
            precision = precision_of(engine)
            per_output = {}
            for out, w, g in zip(outputs, want, got, strict=True):
                diff = float(np.max(np.abs(w.astype(np.float64) - g.astype(np.float64))))
                ok = diff <= FP32_TOLERANCE if precision == "fp32" else within_fp16_tolerance(w, g)
                per_output[out] = {
                    "max_abs_diff": diff,
                    "max_abs_reference": float(np.max(np.abs(w))),
                    "passed": bool(ok),
                }
            row.update(
                precision=precision,
                outputs=per_output,
                passed=all(o["passed"] for o in per_output.values()),
                fp16_probe_max_abs_diff=getattr(engine, "probe_max_abs_diff", None),
            )
            rows.append(row)
            log.info("parity %s %s (%s): %s", name, kind, precision, per_output)
    return rows


def run_check(opts: Options) -> dict[str, Any]:
    """Everything above, as the JSON's dict; raises GpuCheckError when nothing can be compared."""
    t0 = time.perf_counter()
    try:
        torch = require("torch", "the GPU check")
        device = torch_device(opts.device, "the GPU check")
    except EngineError as exc:
        raise GpuCheckError(f"{exc}. Nothing was compared.") from exc
    if opts.device == "auto" and not device.startswith("cuda"):
        raise GpuCheckError(
            f"no CUDA GPU here (torch {torch.__version__} sees none), nothing was compared; "
            "run it on a GPU host (--device cpu is a dry run of the script on this CPU)"
        )
    for name in opts.models:
        locate(name, opts.cache_dir)  # ModelNotPrepared before any work
    frames = load_frames(opts.frames_dir)
    report: dict[str, Any] = {
        "schema": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dry_run_on_cpu": not device.startswith("cuda"),
        "host": host_info(torch, device),
        "tolerances": {
            "fp32_max_abs_diff": FP32_TOLERANCE,
            "fp16": f"max abs diff <= {FP16_RELATIVE} * max|reference| + {FP16_ABSOLUTE}",
        },
        "frames": {"count": len(frames), "sizes": list(SIZES)},
        "parity": parity(opts, device, frames),
    }
    if opts.throughput:
        rows = throughput(opts, device, frames, torch)
        report["throughput"] = rows
        top = best(rows, "decode_preprocess_infer", "640x360")
        report["goal"] = {
            "decode_preprocess_infer_640x360_frames_per_s": GOAL_FPS,
            "best": top,
            "met": bool(top and top["frames_per_s"] >= GOAL_FPS),
        }
        report["best_worker_path"] = {f: best(rows, "worker_path", f) for f in SIZES}
    report["errors"] = opts.errors
    report["passed"] = not opts.errors and all(r["passed"] for r in report["parity"])
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpu_workers.gpu.check", description=__doc__)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("VIGIL_CACHE_DIR", Path.home() / ".cache" / "vigil")),
    )
    parser.add_argument("--device", default="auto", help="auto | cuda[:N] | cpu (a dry run)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--frames", type=Path, default=None, help="a folder of .jpg frames")
    parser.add_argument("--seconds", type=float, default=1.0, help="per throughput figure")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--parity-only", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    opts = Options(
        args.cache_dir,
        device=args.device,
        models=args.models,
        throughput=not args.parity_only,
        batches=args.batches,
        seconds=args.seconds,
        frames_dir=args.frames,
    )
    try:
        report = run_check(opts)
    except (GpuCheckError, VigilError) as exc:
        print(f"gpu-check: {exc}", file=sys.stderr)
        return 3
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("host", "passed", "seconds")}, indent=2))
    for row in report["parity"]:
        print(
            f"parity {row['model']:<24} {row['engine']:<11} {row.get('precision', '-'):<5} "
            f"{'PASS' if row['passed'] else 'FAIL'}"
        )
    if "goal" in report:
        print(f"goal (>= {GOAL_FPS} frames/s): {report['goal']}")
    print(f"wrote {args.out}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
