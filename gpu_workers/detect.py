"""What ``vigil detect`` does, outside the CLI so tests and workers can call it: decode an
image file, run the detector (and the face cascade), describe and optionally draw the result."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gpu_workers.engines import EngineError
from gpu_workers.models.base import Adapter, Image, as_image
from gpu_workers.models.cascade import CascadeResult, FaceCascade
from gpu_workers.models.centerface import CenterFaceAdapter
from gpu_workers.models.embedder import EmbedderAdapter
from gpu_workers.models.files import ModelNotPrepared
from gpu_workers.models.loader import load_model
from gpu_workers.models.spec import SpecError
from gpu_workers.models.types import Detections
from gpu_workers.settings import GpuWorkersSettings
from vigil.errors import VigilError


class DetectError(VigilError, RuntimeError):
    """A model that cannot be loaded or a file that cannot be decoded."""


class Detector:
    def __init__(self, settings: GpuWorkersSettings, *, model: str | None, faces: bool) -> None:
        cfg = settings.models
        try:
            self.model: Adapter[Any] = self._load(model or cfg.detector, settings)
            self.cascade: FaceCascade | None = None
            if faces:
                face_det = self._load(cfg.face_detector, settings)
                embedder = self._load(cfg.embedder, settings)
                if not isinstance(face_det, CenterFaceAdapter) or not isinstance(
                    embedder, EmbedderAdapter
                ):
                    raise DetectError("the face cascade needs a centerface model and an embedder")
                self.cascade = FaceCascade(
                    face_det,
                    embedder,
                    min_face_px=cfg.min_face_px,
                    min_sharpness=cfg.min_sharpness,
                )
        except (ModelNotPrepared, SpecError, EngineError) as exc:
            raise DetectError(str(exc)) from exc

    @staticmethod
    def _load(ref: str, settings: GpuWorkersSettings) -> Adapter[Any]:
        return load_model(
            ref,
            settings.cache_dir,
            threads=settings.models.threads,
            max_batch=settings.models.max_batch,
        )

    def run_file(self, path: Path, annotate_dir: Path | None = None) -> dict[str, Any]:
        image = read_image(path)
        result = self.model([image])[0]
        if not isinstance(result, Detections):
            raise DetectError(
                f"{self.model.spec.name} is a {self.model.spec.family}, not a detector"
            )
        faces = None
        if self.cascade is not None:
            persons = [d.box for d in result.detections if d.label == "person"]
            faces = self.cascade(image, persons or None)
        if annotate_dir is not None:
            annotate_dir.mkdir(parents=True, exist_ok=True)
            out = annotate_dir / f"{path.stem}.jpg"
            if not cv2.imwrite(str(out), draw(image, result, faces)):
                raise DetectError(f"cannot write {out}")
        return describe(path, result, faces)


def read_image(path: Path) -> Image:
    if not path.is_file():
        raise DetectError(f"{path}: no such file")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DetectError(f"{path}: not a decodable image ({data.size} bytes)")
    return as_image(image)


def describe(path: Path, result: Detections, faces: CascadeResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file": str(path),
        "width": result.width,
        "height": result.height,
        "model": str(result.model),
        "model_name": result.model.name,
        "model_version": result.model.version,
        "detections": [
            {
                "label": d.label,
                "class_id": d.class_id,
                "score": round(d.score, 4),
                "box": {k: round(v, 4) for k, v in asdict(d.box).items()},
            }
            for d in result.detections
        ],
    }
    if faces is not None:
        out["face_models"] = {"detector": str(faces.detector), "embedder": str(faces.embedder)}
        out["faces"] = [
            {
                "score": round(f.detection.score, 4),
                "box": {k: round(v, 4) for k, v in asdict(f.detection.box).items()},
                "sharpness": round(f.sharpness, 1),
                "embedding_dim": int(f.embedding.shape[0]),
                "best_poi_similarity": None,  # POI enrolment is a later issue
            }
            for f in faces.faces
        ]
        out["rejected_faces"] = [
            {"score": round(r.detection.score, 4), "reason": r.reason} for r in faces.rejected
        ]
    return out


def draw(image: Image, result: Detections, faces: CascadeResult | None) -> Image:
    canvas = image.copy()
    h, w = canvas.shape[:2]
    for d in result.detections:
        x1, y1, x2, y2 = d.box.to_pixels(w, h)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 200, 0), 2)
        cv2.putText(
            canvas,
            f"{d.label} {d.score:.2f}",
            (x1, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 200, 0),
            1,
            cv2.LINE_AA,
        )
    for f in faces.faces if faces else ():
        x1, y1, x2, y2 = f.detection.box.to_pixels(w, h)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 128, 255), 2)
        for x, y in f.detection.landmarks or ():
            cv2.circle(canvas, (round(x), round(y)), 2, (0, 0, 255), -1)
    return canvas
