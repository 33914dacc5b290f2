"""SSD (TF object-detection API frozen graph) -> ONNX, cut before TF's pre- and
post-processing: input is the normalised 300x300 image, outputs are the raw box encodings and
class logits. TF's resize ``map`` and NMS ``Loop``s are left out; Vigil decodes and suppresses.

Usage: python ssd_tf.py GRAPH.pb OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import quiet_and_deterministic, reference_input, rename_io

INPUT = "Preprocessor/sub:0"  # (uint8 / 127.5) - 1 after TF's per-image resize loop
BOXES = "concat:0"  # [B, anchors, 1, 4] box encodings (ty, tx, th, tw)
LOGITS = "concat_1:0"  # [B, anchors, classes + 1] class logits (sigmoid gives scores)
ANCHORS = "Concatenate/concat:0"  # [anchors, 4] (ymin, xmin, ymax, xmax), normalised
LOGIT_SCALE = "Postprocessor/scale_logits/y:0"


def main(graph_path: str, out_dir: str) -> None:
    quiet_and_deterministic()
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(graph_path).read_bytes())
    size = 300
    with tf.Graph().as_default() as graph:
        image = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3], name="image")
        boxes, logits, anchors, logit_scale = tf.import_graph_def(
            graph_def,
            input_map={INPUT: image},
            return_elements=[BOXES, LOGITS, ANCHORS, LOGIT_SCALE],
            name="",
        )
        count = int(anchors.shape[0]) if anchors.shape[0] is not None else -1
        tf.reshape(boxes, [-1, count, 4], name="box_encodings")
        tf.identity(logits, name="class_logits")
        with tf.compat.v1.Session(graph=graph) as sess:
            probe = reference_input((2, size, size, 3))
            ref_boxes, ref_logits, anchor_values, scale = sess.run(
                ["box_encodings:0", "class_logits:0", anchors, logit_scale], {image: probe}
            )
        if float(scale) != 1.0:
            raise SystemExit(f"unexpected logit scale {scale}; the adapter assumes 1.0")
        cut = tf.compat.v1.graph_util.extract_sub_graph(
            graph.as_graph_def(), ["box_encodings", "class_logits"]
        )
    out = Path(out_dir)
    onnx_path = out / "model.onnx"
    tf2onnx.convert.from_graph_def(
        cut,
        input_names=["image:0"],
        output_names=["box_encodings:0", "class_logits:0"],
        opset=13,
        output_path=str(onnx_path),
    )
    rename_io(
        str(onnx_path),
        {"image:0": "image", "box_encodings:0": "box_encodings", "class_logits:0": "class_logits"},
    )
    np.save(out / "anchors.npy", anchor_values.astype(np.float32))
    np.savez(out / "reference.npz", input=probe, box_encodings=ref_boxes, class_logits=ref_logits)
    print(f"ssd: {count} anchors, ONNX written to {onnx_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
