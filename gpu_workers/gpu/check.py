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
import io
import json
import logging
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gpu_workers.engines.base import Engine, EngineError
from gpu_workers.engines.onnxruntime import OnnxRuntimeEngine
from gpu_workers.engines.stack import require, torch_device
from gpu_workers.engines.torchcuda import (
    FP16_ABSOLUTE,
    FP16_RELATIVE,
    FP32_TOLERANCE,
    TorchEngine,
    within_fp16_tolerance,
)
from gpu_workers.gpu.decode import DeviceDecoder, Encoded
from gpu_workers.gpu.frames import DeviceFrame, DeviceTensor
from gpu_workers.gpu.preprocess import DevicePreprocess
from gpu_workers.gpu.stats import device_stats
from gpu_workers.models.base import ResizeMode
from gpu_workers.models.files import locate
from gpu_workers.models.spec import ModelSpec
from vigil.errors import VigilError
from vigil.images import ImageHeader, read_header

log = logging.getLogger("vigil.gpucheck")
DEFAULT_MODELS = ("ssd_mobilenet_v2_coco", "centerface", "faceres")
BATCHES = (1, 8, 32, 64)
PARITY_BATCH = 8
SIZES = {"bikes-640x272": None, "640x360": (640, 360), "1080p": (1920, 1080)}
GOAL_FPS = 2000  # decode + preprocess + infer, default detector, 640 x 360, best batch
_MAX_BYTES, _MAX_PIXELS = 64 << 20, 50_000_000


class GpuCheckError(VigilError, RuntimeError):
    """No GPU (or no torch) here, or the models are not prepared: nothing was compared."""


@dataclass
class Options:
    cache_dir: Path
    device: str = "auto"
    models: Sequence[str] = DEFAULT_MODELS
    throughput: bool = True
    batches: Sequence[int] = BATCHES
    seconds: float = 1.0
    frames_dir: Path | None = None
    errors: list[str] = field(default_factory=list)


# -- inputs -----------------------------------------------------------------------------------


def load_frames(frames_dir: Path | None) -> list[bytes]:
    """JPEG frames: the files of ``frames_dir`` (what the carried folder holds), else 64 frames
    of bikes.mp4 from the test media (this machine)."""
    if frames_dir is not None:
        files = sorted(frames_dir.glob("*.jpg"))
        if not files:
            raise GpuCheckError(f"no .jpg frames in {frames_dir}")
        return [f.read_bytes() for f in files]
    from vigil.testing.media import bikes_jpegs

    return bikes_jpegs(64, (640, 272), step=3)


def resized_jpegs(frames: Sequence[bytes], size: tuple[int, int] | None) -> list[bytes]:
    """The frames at ``size`` (Pillow: the check needs no OpenCV), JPEG quality 90."""
    if size is None:
        return list(frames)
    from PIL import Image

    out = []
    for data in frames:
        with Image.open(io.BytesIO(data)) as img:
            buf = io.BytesIO()
            img.convert("RGB").resize(size, Image.Resampling.BILINEAR).save(buf, "JPEG", quality=90)
            out.append(buf.getvalue())
    return out


def pil_decode(data: bytes, _header: ImageHeader) -> npt.NDArray[np.uint8]:
    """The check's CPU fallback decode (BGR, upright), without OpenCV."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


def encoded(frames: Sequence[bytes]) -> list[Encoded]:
    return [
        Encoded(d, read_header(d, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS)) for d in frames
    ]


def cycle(items: Sequence[Any], n: int) -> list[Any]:
    return [items[i % len(items)] for i in range(n)]


def model_preprocess(spec: ModelSpec, device: str) -> DevicePreprocess:
    """The model's input from frames: its own resize where the torch path has it, else the
    frames stretched to its input size (a face model's input is an aligned crop; any real
    pixels compare the engines as well)."""
    size = spec.input_size or (640, 352)
    mode: ResizeMode = "letterbox" if spec.letterbox else "stretch"
    return DevicePreprocess(spec.model_copy(update={"input_size": size}), mode, device)


# -- engines ----------------------------------------------------------------------------------


def gpu_engines(device: str) -> list[str]:
    """The engine variants to check here: torch FP32 and FP16, TensorRT where installed."""
    kinds = ["torch-fp32", "torch-fp16"] if device.startswith("cuda") else ["torch-fp32"]
    if device.startswith("cuda"):
        try:
            require("tensorrt", "the TensorRT engine")
            kinds.append("tensorrt")
        except EngineError:
            pass
    return kinds


def build_engine(kind: str, path: Path, outputs: list[str], device: str, cache: Path) -> Engine:
    if kind == "tensorrt":
        from gpu_workers.engines.tensorrt import TensorRtEngine

        return TensorRtEngine(
            path,
            max_batch=max(BATCHES),
            output_names=outputs,
            fp16=True,
            opt_batch=32,
            workspace_mib=4096,
            engine_dir=cache / "trt",
        )
    return TorchEngine(
        path, max_batch=max(BATCHES), output_names=outputs, device=device, fp16=kind == "torch-fp16"
    )


def precision_of(engine: Engine) -> str:
    return str(getattr(engine, "precision", "fp16" if getattr(engine, "fp16", False) else "fp32"))


def to_engine(engine: Engine, batch: DeviceTensor) -> list[npt.NDArray[np.float32]]:
    """The device tensor to the engine: directly where it takes one, else one host copy."""
    if engine.device is not None:
        return engine.infer_device(batch)
    return engine.infer(batch.cpu().numpy())


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


def rate(fn: Callable[[], object], frames: int, seconds: float, sync: Callable[[], None]) -> float:
    """Frames/s of ``fn`` over at least ``seconds`` and 3 calls, after one call to warm up."""
    fn()
    sync()
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    sync()
    return calls * frames / (time.perf_counter() - t0)


def throughput(opts: Options, device: str, frames: list[bytes], torch: Any) -> list[dict[str, Any]]:
    from gpu_workers.models.ssd import SsdAdapter
    from gpu_workers.models.types import ModelIdentity

    name = opts.models[0]
    spec, path, _sha = locate(name, opts.cache_dir)
    sync: Callable[[], None] = (
        torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    )
    decoder = DeviceDecoder(device, pil_decode)
    pre = model_preprocess(spec, device)
    rows: list[dict[str, Any]] = []
    for kind in gpu_engines(device):
        try:
            engine = build_engine(kind, path, spec.outputs or [], device, opts.cache_dir)
            adapter = SsdAdapter(spec, engine, ModelIdentity(spec.name, spec.version, ""))
        except Exception:
            opts.errors.append(f"throughput {kind}: {traceback.format_exc(limit=3)}")
            continue
        for size_name, size in SIZES.items():
            jpegs = resized_jpegs(frames, size)
            for b in opts.batches:
                stages = stages_of(engine, adapter, decoder, pre, encoded(cycle(jpegs, b)))
                for stage, fn in stages.items():
                    try:
                        fps = rate(fn, b, opts.seconds, sync)
                    except Exception:
                        opts.errors.append(
                            f"{kind} {size_name} b{b} {stage}: {traceback.format_exc(limit=3)}"
                        )
                        continue
                    rows.append(
                        {
                            "model": name,
                            "engine": kind,
                            "precision": precision_of(engine),
                            "frames": size_name,
                            "batch": b,
                            "stage": stage,
                            "frames_per_s": round(fps, 1),
                        }
                    )
                    log.info("%s %s b%d %s: %.1f frames/s", kind, size_name, b, stage, fps)
    return rows


def stages_of(
    engine: Engine,
    adapter: Any,
    decoder: DeviceDecoder,
    pre: DevicePreprocess,
    frames: list[Encoded],
) -> dict[str, Callable[[], object]]:
    """The measured stages over one batch of encoded frames."""
    decoded = decoder(frames)
    tensor, _ = pre(decoded)

    def worker_path() -> object:
        images = decoder(frames)
        device_stats([DeviceFrame(t, f.header) for t, f in zip(images, frames, strict=True)])
        x, places = pre(images)
        return adapter.postprocess(to_engine(engine, x), places)

    return {
        "decode": lambda: decoder(frames),
        "preprocess": lambda: pre(decoded),
        "infer": lambda: to_engine(engine, tensor),
        "decode_preprocess_infer": lambda: to_engine(engine, pre(decoder(frames))[0]),
        "worker_path": worker_path,
    }


def best(rows: list[dict[str, Any]], stage: str, frames: str) -> dict[str, Any] | None:
    found = [r for r in rows if r["stage"] == stage and r["frames"] == frames]
    return max(found, key=lambda r: float(r["frames_per_s"])) if found else None


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
