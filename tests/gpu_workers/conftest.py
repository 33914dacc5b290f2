"""Prepared zoo models for the tests: prepared once per machine into the shared cache (the
first run downloads and converts; later runs find them verified and reuse them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vigil.testing import user_cache_dir


@pytest.fixture(scope="session")
def zoo_cache() -> Path:
    from gpu_workers.zoo import prepare

    cache = user_cache_dir()
    prepare(cache)
    return cache


def _load(name: str, cache: Path) -> Any:
    from gpu_workers.models.loader import load_model

    return load_model(name, cache, threads=2)


@pytest.fixture(scope="session")
def ssd(zoo_cache: Path) -> Any:
    return _load("ssd_mobilenet_v2_coco", zoo_cache)


@pytest.fixture(scope="session")
def centerface(zoo_cache: Path) -> Any:
    return _load("centerface", zoo_cache)


@pytest.fixture(scope="session")
def faceres(zoo_cache: Path) -> Any:
    return _load("faceres", zoo_cache)
