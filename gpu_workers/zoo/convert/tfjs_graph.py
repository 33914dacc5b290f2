"""TensorFlow.js graph model (model.json + .bin shards) -> TF GraphDef -> ONNX.

The JSON's ``modelTopology`` is a GraphDef in protobuf-JSON form whose Const nodes lack their
values; the weights manifest says where each value sits in the shards (float16-quantised
float32 weights are widened back). The graph is then cut at the requested output.

Usage: python tfjs_graph.py MODEL.json OUT_DIR INPUT OUTPUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import quiet_and_deterministic, rename_io


def load_weights(model_json: Path, manifest: list[dict]) -> dict:
    import numpy as np

    values = {}
    for group in manifest:
        blob = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            stored = w.get("quantization", {}).get("dtype", w["dtype"])
            if stored not in ("float32", "float16", "int32"):
                raise SystemExit(f"weight {w['name']}: unsupported stored dtype {stored}")
            dtype = np.dtype(stored)
            raw = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
            offset += count * dtype.itemsize
            values[w["name"]] = raw.astype(np.dtype(w["dtype"])).reshape(shape)
        if offset != len(blob):
            raise SystemExit(f"weights manifest covers {offset} of {len(blob)} bytes")
    return values


def main(model_json: str, out_dir: str, input_name: str, output_name: str) -> None:
    quiet_and_deterministic()
    import tensorflow as tf
    import tf2onnx
    from google.protobuf import json_format

    path = Path(model_json)
    spec = json.loads(path.read_text(encoding="utf-8"))
    graph_def = json_format.ParseDict(spec["modelTopology"], tf.compat.v1.GraphDef())
    weights = load_weights(path, spec["weightsManifest"])
    for node in graph_def.node:
        node.device = ""
        if node.op == "Const" and node.name in weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name]))
    cut = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [output_name])
    unsupported = {n.op for n in cut.node if n.op.startswith("_Fused")}
    if unsupported:
        raise SystemExit(f"fused TFJS ops {sorted(unsupported)} before {output_name!r}")

    import numpy as np
    from _common import reference_input

    with tf.Graph().as_default() as graph:
        tf.import_graph_def(cut, name="")
        placeholder = graph.get_tensor_by_name(f"{input_name}:0")
        shape = tuple(2 if d is None else int(d) for d in placeholder.shape)
        probe = (reference_input(shape) + 1.0) * 127.5
        with tf.compat.v1.Session(graph=graph) as sess:
            ref = sess.run(f"{output_name}:0", {placeholder: probe})
    out = Path(out_dir)
    onnx_path = out / "model.onnx"
    tf2onnx.convert.from_graph_def(
        cut,
        input_names=[f"{input_name}:0"],
        output_names=[f"{output_name}:0"],
        opset=13,
        output_path=str(onnx_path),
    )
    rename_io(str(onnx_path), {f"{input_name}:0": "image", f"{output_name}:0": "embedding"})
    np.savez(out / "reference.npz", input=probe.astype(np.float32), embedding=ref)
    print(f"tfjs: {len(cut.node)} nodes, ONNX written to {onnx_path}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
