"""Helpers the conversion scripts share (run inside the build environment only)."""

from __future__ import annotations

import os
import random

import numpy as np


def quiet_and_deterministic() -> None:
    """Same input, same bytes out: fixed seeds, one thread, TF's logs off."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    random.seed(0)
    np.random.seed(0)


def rename_io(model_path: str, renames: dict[str, str]) -> None:
    """Give the ONNX graph's inputs and outputs plain names (tf2onnx keeps ``name:0``)."""
    import onnx

    model = onnx.load(model_path)
    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        if value.name in renames:
            value.name = renames[value.name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
    onnx.checker.check_model(model)
    onnx.save(model, model_path)


def reference_input(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    """A fixed input to record the source framework's outputs on, for the ONNX comparison."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)
