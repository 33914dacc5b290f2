"""The demo's stand-in for a training command (``retrain.command``): it trains nothing. It
writes the production detector's weights, marked as a file of their own, under a looser score
threshold (0.45) as ``{output}/spec.yaml`` + ``model.onnx`` — a real, different model the loop
can register, replay, evaluate and promote. A real command trains on ``{dataset}`` (the COCO
export it is given), e.g. with Ultralytics, and exports ONNX.

``python -m vigil_app.demo.train DATASET OUTPUT PRODUCTION_SPEC RUN``"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vigil.testing.models import derived_model

THRESHOLD = 0.45


def main(argv: list[str]) -> int:
    dataset, output, production_spec, run = argv
    coco = Path(dataset) / "annotations" / "instances_default.json"
    images = len(json.loads(coco.read_text(encoding="utf-8"))["images"])
    spec = derived_model(
        Path(production_spec),
        Path(output),
        version=f"demo-{run}",
        mark=f"vigil demo: not trained, {images} exported samples seen",
        score_threshold=THRESHOLD,
    )
    print(f"'trained' on {images} exported samples (a stand-in): {spec}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
