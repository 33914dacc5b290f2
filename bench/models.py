"""Model zoo speed on CPU: ONNX Runtime with 2 threads, batch 1, 4 and 8, and the time spent
around the network (preprocessing and postprocessing per image), side by side in one run.

Prints JSON. Needs the prepared models (``vigil models prepare``). Run:
``python -m bench.models``.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gpu_workers.models.base import Adapter, Image
from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.loader import load_model
from gpu_workers.zoo import prepare
from vigil.testing.media import frames, still
from vigil_app.settings import VigilSettings

THREADS = 2
BATCHES = (1, 4, 8)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _images_for(model: Adapter[Any]) -> list[Image]:
    if isinstance(model, EmbedderAdapter):
        detector = load_model("centerface", VigilSettings().cache_dir, threads=THREADS)
        if not isinstance(detector, CenterFaceAdapter):
            raise TypeError("centerface is not a CenterFace model")
        cascade = FaceCascade(detector, model)
        crops = []
        for frame in frames("carphone_pristine.mp4", list(range(0, 120, 15))):
            face = cascade.detector([frame])[0].detections[0]
            crops.append(model.align(frame, face.landmarks or ()))
        return crops
    if isinstance(model, CenterFaceAdapter):  # one camera-sized input for every batch
        return frames("bikes.mp4", list(range(0, 240, 30)))
    stills = [still(n) for n in ("astronaut", "coffee", "chelsea", "grace_hopper")]
    return [*frames("bikes.mp4", [30, 120, 190, 210]), *stills]


def bench_model(name: str, cache: Path, repeats: int) -> dict[str, Any]:
    model = load_model(name, cache, threads=THREADS, max_batch=max(BATCHES))
    model.engine.warm_up(1)
    images = _images_for(model)
    out: dict[str, Any] = {"model": str(model.identity), "family": model.spec.family}
    for batch in BATCHES:
        chunk = (images * batch)[:batch]
        tensor, places = model.preprocess(chunk)
        outputs = model.predict(tensor)
        infer = _median_ms(partial(model.predict, tensor), repeats)
        pre = _median_ms(partial(model.preprocess, chunk), repeats)
        post = _median_ms(partial(model.postprocess, outputs, places), repeats)
        out[f"batch_{batch}"] = {
            "input_shape": list(tensor.shape),
            "inference_ms": round(infer, 2),
            "images_per_s": round(batch / (infer / 1000), 1),
            "preprocess_ms_per_image": round(pre / batch, 3),
            "postprocess_ms_per_image": round(post / batch, 3),
            "end_to_end_images_per_s": round(batch / ((infer + pre + post) / 1000), 1),
        }
    return out


def run(repeats: int = 10) -> dict[str, Any]:
    cache = VigilSettings().cache_dir
    prepare(cache)
    results = [
        bench_model(n, cache, repeats) for n in ("ssd_mobilenet_v2_coco", "centerface", "faceres")
    ]
    return {
        "bench": "models",
        "engine": "onnxruntime-cpu",
        "threads": THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "results": results,
    }


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
