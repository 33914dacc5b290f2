"""The prepared face models (shared with the model-zoo tests) for the POI end-to-end test."""

from tests.gpu_workers.conftest import centerface, faceres, zoo_cache

__all__ = ["centerface", "faceres", "zoo_cache"]
