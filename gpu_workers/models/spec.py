"""Model specs: what an adapter needs to know about a network. Users write one as YAML for
their own ONNX; the zoo writes one per prepared model. Typos and bad values fail fast with
the field named (``extra="forbid"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vigil.errors import VigilError

Family = Literal["ssd", "yolo", "centerface", "embedder"]


class SpecError(VigilError, ValueError):
    """A model spec that cannot be used; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SsdAnchors(_Strict):
    """TF object-detection API ``ssd_anchor_generator`` settings (the zoo's defaults)."""

    num_layers: int = Field(6, ge=1)
    min_scale: float = Field(0.2, gt=0)
    max_scale: float = Field(0.95, gt=0)
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True
    feature_map_sizes: tuple[int, ...] = (19, 10, 5, 3, 2, 1)
    box_coder_scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)

    @model_validator(mode="after")
    def _layers(self) -> SsdAnchors:
        if len(self.feature_map_sizes) != self.num_layers:
            raise ValueError(
                f"feature_map_sizes has {len(self.feature_map_sizes)} entries, "
                f"num_layers is {self.num_layers}"
            )
        return self


class ModelSpec(_Strict):
    """Everything about a network an adapter uses: geometry, pixels, labels, thresholds."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    version: str = "1"
    family: Family
    file: str = Field("model.onnx", description="ONNX file, relative to the spec's folder")
    input_size: tuple[int, int] | None = Field(
        None, description="(width, height); None: dynamic (CenterFace pads to a multiple of 32)"
    )
    layout: Literal["nchw", "nhwc"] = "nchw"
    colour_order: Literal["rgb", "bgr"] = "rgb"
    input_dtype: Literal["float32", "uint8"] = "float32"
    scale: float = Field(1 / 255, description="pixel * scale, then (x - mean) / std")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    letterbox: bool = Field(False, description="keep aspect ratio and pad (Ultralytics style)")
    labels: list[str] = Field(default_factory=list)
    background_class: bool = Field(False, description="class 0 is background (SSD)")
    score_threshold: float = Field(0.5, ge=0, le=1)
    nms_iou: float = Field(0.5, gt=0, le=1)
    max_detections: int = Field(100, ge=1)
    outputs: list[str] = Field(default_factory=list, description="output names, in order")
    anchors: SsdAnchors | None = None
    embedding_size: int | None = Field(None, ge=1)
    face_scale: float = Field(
        1.0, gt=0, le=2, description="embedders: size of the face in the aligned crop (1 = ArcFace)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if any(s <= 0 for s in self.std):
            raise ValueError("std: every value must be > 0")
        if self.family in ("ssd", "yolo") and not self.labels:
            raise ValueError(f"labels: a {self.family} model needs its class labels")
        if self.family in ("ssd", "yolo", "embedder") and self.input_size is None:
            raise ValueError(f"input_size: a {self.family} model needs (width, height)")
        if self.family == "ssd" and self.anchors is None:
            raise ValueError("anchors: an ssd model needs its anchor settings")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def load_spec(path: Path) -> ModelSpec:
    """Read a spec YAML; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read model spec: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a model spec is a mapping of fields")
    return parse_spec(raw, source=str(path))


def parse_spec(raw: dict[str, object], source: str = "model spec") -> ModelSpec:
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(spec)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SpecError(f"{source}: invalid model spec: {problems}") from exc
