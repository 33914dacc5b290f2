"""The GPU check's throughput part: decode only, preprocess only, infer only, decode +
preprocess + infer, and the worker's whole path (+ image statistics and postprocessing), in
frames/s per batch size, on bikes.mp4 frames and the same at 640 x 360 and 1080p."""

from __future__ import annotations

import io
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from gpu_workers.engines.base import Engine
from gpu_workers.gpu.decode import DeviceDecoder, Encoded
from gpu_workers.gpu.frames import DeviceFrame
from gpu_workers.gpu.preprocess import DevicePreprocess
from gpu_workers.gpu.stats import device_stats
from gpu_workers.gpu.trial import (
    Options,
    build_engine,
    cycle,
    encoded,
    gpu_engines,
    model_preprocess,
    pil_decode,
    precision_of,
    to_engine,
)
from gpu_workers.models.files import locate

log = logging.getLogger("vigil.gpucheck")
SIZES = {"bikes-640x272": None, "640x360": (640, 360), "1080p": (1920, 1080)}
GOAL_FPS = 2000  # decode + preprocess + infer, default detector, 640 x 360, best batch


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
