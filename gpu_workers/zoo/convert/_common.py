"""Helpers the conversion scripts share (run inside the build environment only)."""

from __future__ import annotations

import os
import random
import re

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
    _canonical_names(graph)
    for value in list(graph.input) + list(graph.output):  # tf2onnx's unk__N -> "batch"
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param.startswith("unk__"):
            dims[0].dim_param = "batch"
    onnx.checker.check_model(model)
    onnx.save(model, model_path)


_AUTO = re.compile(r"__\d+(:\d+)?$")


def _canonical_names(graph) -> None:  # type: ignore[no-untyped-def]
    """tf2onnx numbers the tensors and nodes it creates in an order that varies run to run;
    rename them by position in the graph so the same model always has the same bytes."""
    renames: dict[str, str] = {}
    for index, node in enumerate(graph.node):
        if _AUTO.search(node.name):
            node.name = f"n{index}_{node.op_type}"
        for name in list(node.input) + list(node.output):
            if name and _AUTO.search(name) and name not in renames:
                renames[name] = f"t{len(renames)}"
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    for init in graph.initializer:
        init.name = renames.get(init.name, init.name)
    for value in graph.value_info:
        value.name = renames.get(value.name, value.name)
    ordered = sorted(graph.initializer, key=lambda t: t.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)


def reference_input(shape: tuple[int, ...], seed: int = 7) -> np.ndarray:
    """A fixed input to record the source framework's outputs on, for the ONNX comparison."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype(np.float32)
