"""The torch path's tests run where torch is installed (the ``gpu`` extra, or ``make
test-torch`` here); the default install and CI have no torch and skip them."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "torch", reason="the torch path needs torch: pip install 'vigil[gpu]' (or make test-torch)"
)
pytest.importorskip("torchvision", reason="the torch path needs torchvision (the gpu extra)")
