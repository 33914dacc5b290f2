"""Small ONNX files built with the onnx helper API, with outputs known in advance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_output_model(path: Path, output: np.ndarray, size: tuple[int, int]) -> Path:
    """Input ``images`` [B, 3, H, W]; output ``output0`` = ``output`` ([C, N]) for every image
    in the batch (plus 0 x the image mean, so the graph really consumes its input)."""
    width, height = size
    inits = [
        numpy_helper.from_array(output[None].astype(np.float32), name="known"),
        numpy_helper.from_array(np.asarray([1, 2, 3], np.int64), name="axes_chw"),
        numpy_helper.from_array(np.asarray([1, 2], np.int64), name="axes_new"),
        numpy_helper.from_array(np.asarray(0.0, np.float32), name="zero"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images", "axes_chw"], ["mean"], keepdims=0),  # [B]
        helper.make_node("Unsqueeze", ["mean", "axes_new"], ["mean3"]),  # [B, 1, 1]
        helper.make_node("Mul", ["mean3", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "known"], ["output0"]),  # [B, C, N]
    ]
    graph = helper.make_graph(
        nodes,
        "known_output",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, height, width])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, ["batch", output.shape[0], output.shape[1]]
            )
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
