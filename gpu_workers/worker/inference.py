"""Models on a batch of decoded frames -> DetectionEvent records: the detector for every
frame, the face cascade for frames whose camera asks for it (``worker.face_cameras`` or the
FrameEvent tag ``faces=1``), image statistics from the decode step. Each event says whether
the face cascade ran for its frame (``faces_searched``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_workers.engines.factory import make_engine
from gpu_workers.engines.stack import cuda_available, torch_device
from gpu_workers.engines.tensorrt import TensorRtEngine
from gpu_workers.gpu.frames import DeviceFrame, DeviceTensor
from gpu_workers.gpu.preprocess import DevicePreprocess
from gpu_workers.models.base import Adapter, Image
from gpu_workers.models.cascade import FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.loader import EngineFactory, build_adapter, load_model
from gpu_workers.models.spec import ModelSpec
from gpu_workers.models.types import Detection, Detections
from gpu_workers.settings import GpuWorkersSettings
from gpu_workers.worker.intake import Decoded
from gpu_workers.worker.metrics import STAGE_SECONDS
from schemas.types import Detection as DetectionRecord
from schemas.types import DetectionEvent, FrameEvent
from vigil.imagestats import ImageStats

FACE_TAG = "faces"


@dataclass(frozen=True)
class Item:
    """A decoded frame ready for the models."""

    event: FrameEvent
    decoded: Decoded | DeviceFrame  # host pixels (the CPU path) or a tensor (the torch path)
    stats: ImageStats


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def wants_faces(event: FrameEvent, face_cameras: Sequence[str]) -> bool:
    tag = str((event.get("tags") or {}).get(FACE_TAG, "")).lower()
    return event.get("camera_id") in face_cameras or tag in ("1", "true", "yes")


class Inference:
    """``detector``: a zoo name or spec YAML to run instead of ``models.detector`` (the
    registry's production model), ``face_models`` the same for ``face_detector`` and
    ``embedder``; :attr:`detector` may be replaced between batches (a hot
    swap, ``worker.swap``)."""

    def __init__(
        self,
        settings: GpuWorkersSettings,
        *,
        detector: str | Path | None = None,
        face_models: Mapping[str, str | Path] | None = None,
    ) -> None:
        self.settings = settings
        cfg = settings.models
        # the face cascade's models (the registry's at start-up, else the settings')
        self.face_refs: dict[str, str | Path] = {
            "face_detector": cfg.face_detector,
            "embedder": cfg.embedder,
            **(face_models or {}),
        }
        self.max_batch = settings.worker.max_batch or settings.models.max_batch
        self.detector = self._load(detector or settings.models.detector)
        self._cascade: FaceCascade | None = None
        # the torch path's device (worker.preprocess), None for the CPU path; fixed at start:
        # a hot swap keeps the engine kind, so the device stays right
        self.device = self._device()
        self._device_pre: tuple[Adapter[Any], DevicePreprocess | None] | None = None
        # a full batch once: allocation (ONNX Runtime's arena, TensorRT's buffers) happens now
        self.detector.engine.warm_up(self.max_batch)

    def build(self, spec: ModelSpec, onnx_path: Path, sha256: str) -> Adapter[Any]:
        """An adapter of ``spec`` on the worker's engine factory, warmed up with a full batch,
        ready to replace :attr:`detector` (its ONNX already checked against ``sha256``)."""
        adapter = build_adapter(
            spec,
            onnx_path,
            threads=self.settings.models.threads,
            max_batch=self.max_batch,
            sha256=sha256,
            make_engine=self._factory(),
        )
        adapter.engine.warm_up(self.max_batch)
        return adapter

    def _factory(self) -> EngineFactory:
        s = self.settings

        def factory(path: Any, outputs: list[str] | None) -> Any:
            return make_engine(
                s.worker.engine,
                path,
                outputs,
                threads=s.models.threads,
                max_batch=self.max_batch,
                cache_dir=s.cache_dir,
            )

        return factory

    def _load(self, ref: str | Path) -> Adapter[Any]:
        return load_model(
            ref,
            self.settings.cache_dir,
            threads=self.settings.models.threads,
            max_batch=self.max_batch,
            make_engine=self._factory(),
        )

    def _device(self) -> str | None:
        mode = self.settings.worker.preprocess
        if mode == "cpu":
            return None
        engine = self.detector.engine
        if mode == "torch":
            return engine.device or torch_device("auto", "worker.preprocess: torch")
        if engine.device is not None and engine.device.startswith("cuda"):
            return engine.device
        if isinstance(engine, TensorRtEngine) and cuda_available():
            return "cuda:0"
        return None

    def device_preprocess(self) -> DevicePreprocess | None:
        """The current detector's torch preprocessing (rebuilt after a hot swap), or None."""
        if self.device is None:
            return None
        if self._device_pre is None or self._device_pre[0] is not self.detector:
            self._device_pre = (
                self.detector,
                DevicePreprocess.for_adapter(self.detector, self.device),
            )
        return self._device_pre[1]

    @property
    def model_size(self) -> tuple[int, int] | None:
        return self.detector.spec.input_size

    @property
    def cascade(self) -> FaceCascade:
        """Loaded on first use, so workers without face cameras never load the face models."""
        if self._cascade is None:
            cfg = self.settings.models
            det = self._load(self.face_refs["face_detector"])
            emb = self._load(self.face_refs["embedder"])
            if not isinstance(det, CenterFaceAdapter) or not isinstance(emb, EmbedderAdapter):
                raise TypeError("the face cascade needs a centerface model and an embedder")
            self._cascade = FaceCascade(
                det, emb, min_face_px=cfg.min_face_px, min_sharpness=cfg.min_sharpness
            )
        return self._cascade

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        t0 = time.perf_counter()
        batch, places = self.detector.preprocess(images)
        outputs = self.detector.predict(batch)
        t1 = time.perf_counter()
        results = self.detector.postprocess(outputs, places)
        STAGE_SECONDS.labels("infer").observe(t1 - t0)
        STAGE_SECONDS.labels("postprocess").observe(time.perf_counter() - t1)
        return [r for r in results if isinstance(r, Detections)]

    def detect_on_device(self, frames: Sequence[DeviceTensor]) -> list[Detections]:
        """The torch path: preprocessing on the device, the tensor handed to the engine (an
        engine that only takes host arrays gets one copy down)."""
        pre = self.device_preprocess()
        if pre is None:
            raise RuntimeError("no torch preprocessing for this detector")
        t0 = time.perf_counter()
        batch, places = pre(frames)
        engine = self.detector.engine
        step = engine.max_batch
        parts = []
        for i in range(0, len(batch), step):
            chunk = batch[i : i + step]
            if engine.device is not None:
                parts.append(engine.infer_device(chunk))
            else:
                parts.append(engine.infer(chunk.cpu().numpy()))
        outputs = [np.concatenate(outs, axis=0) for outs in zip(*parts, strict=True)]
        t1 = time.perf_counter()
        results = self.detector.postprocess(outputs, places)
        STAGE_SECONDS.labels("infer").observe(t1 - t0)
        STAGE_SECONDS.labels("postprocess").observe(time.perf_counter() - t1)
        return [r for r in results if isinstance(r, Detections)]

    def run(self, items: Sequence[Item]) -> list[DetectionEvent]:
        """One DetectionEvent per item, in the items' order."""
        if not items:
            return []
        frames = [i.decoded for i in items]
        if self.device_preprocess() is not None and all(isinstance(f, DeviceFrame) for f in frames):
            results = self.detect_on_device([f.tensor for f in frames])  # type: ignore[union-attr]
        else:  # the CPU path (a DeviceFrame's host copy for a detector the torch path lacks)
            results = self.detect([f.image for f in frames])
        if len(results) != len(items):
            raise RuntimeError(f"{self.detector.spec.name} is not a detector")
        done = now_ms()
        faces = self.settings.worker.face_cameras
        out: list[DetectionEvent] = []
        for item, result in zip(items, results, strict=True):
            fields = result.event_fields()
            searched = wants_faces(item.event, faces)
            if searched:
                fields["detections"].extend(self._faces(item.decoded.image, result))
            ev = item.event
            out.append(
                {
                    "frame_id": ev["frame_id"],
                    "camera_id": ev["camera_id"],
                    "sequence": ev["sequence"],
                    "capture_ts_ms": ev["capture_ts_ms"],
                    "inference_ts_ms": done,
                    **fields,
                    "frame_width": item.decoded.header.width,
                    "frame_height": item.decoded.header.height,
                    "image_stats": item.stats,
                    # the dashboard shows a viewer this frame only if its faces were looked for
                    "faces_searched": searched,
                    "carried_from": None,  # detected (the motion gate may carry it instead)
                }
            )
        return out

    def _faces(self, image: Image, result: Detections) -> list[DetectionRecord]:
        """Every face found: those past the quality gate with their embedding, those turned
        away (too small, too blurred) without one, so the dashboard blurs them too."""
        persons = [d.box for d in result.detections if d.label == "person"]
        found = self.cascade(image, persons or None)
        matched = [(f.detection, [float(v) for v in f.embedding]) for f in found.faces]
        gated: list[tuple[Detection, list[float] | None]] = [
            (r.detection, None) for r in found.rejected
        ]
        return [
            {
                "label": "face",
                "class_id": d.class_id,
                "score": d.score,
                "box": d.box.as_dict(),
                "embedding": embedding,
                "track_id": None,
            }
            for d, embedding in matched + gated
        ]
