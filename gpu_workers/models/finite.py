"""NaN and infinity from a model: a custom ONNX (or a broken export) can emit them in boxes,
scores or embeddings. They are dropped here, before any record is built, and counted, so no
DetectionEvent ever carries one and a dashboard or a matcher never has to guess."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter

NONFINITE = Counter(
    "vigil_model_nonfinite_outputs",
    "Candidate detections or embeddings dropped for NaN or infinite values",
    ["model"],
)


def finite_rows(*arrays: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]:
    """One flag per row (first axis): every value of the row is finite in every array."""
    ok = np.ones(len(arrays[0]), dtype=bool)
    for array in arrays:
        values = np.asarray(array)
        if values.size:  # rows without values are trivially finite
            ok &= np.isfinite(values).reshape(len(values), -1).all(axis=1)
    return ok


def count_dropped(model: str, dropped: int) -> None:
    if dropped:
        NONFINITE.labels(model).inc(dropped)
