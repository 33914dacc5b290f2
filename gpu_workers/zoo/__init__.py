"""The model zoo: default models prepared offline from pinned registry packages."""

from gpu_workers.zoo.catalog import DEFAULT_DETECTOR, DEFAULT_EMBEDDER, DEFAULT_FACE_DETECTOR
from gpu_workers.zoo.fetch import ZooError
from gpu_workers.zoo.prepare import Prepared, is_prepared, models_dir, prepare, read_entry

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_EMBEDDER",
    "DEFAULT_FACE_DETECTOR",
    "Prepared",
    "ZooError",
    "is_prepared",
    "models_dir",
    "prepare",
    "read_entry",
]
