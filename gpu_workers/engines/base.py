"""The engine contract every backend honours, so adapters never know which one runs them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.errors import VigilError


class EngineError(VigilError, RuntimeError):
    """A model file or an input the engine cannot run; the message says which and why."""


@dataclass(frozen=True)
class InputSpec:
    """The network's input as the file declares it (``None`` marks a dynamic dimension)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def check(self, batch: npt.NDArray[np.generic]) -> None:
        """Reject a batch of the wrong rank, shape or dtype before the runtime sees it."""
        self.check_shape(tuple(batch.shape), str(batch.dtype))

    def check_shape(self, shape: tuple[int, ...], dtype: str) -> None:
        """The same check for a batch described by its shape and dtype name (a device tensor)."""
        if len(shape) != len(self.shape):
            raise EngineError(
                f"input {self.name!r} expects rank {len(self.shape)} {self._shape_text()}, "
                f"got shape {shape}"
            )
        for axis, (want, got) in enumerate(zip(self.shape, shape, strict=True)):
            if want is not None and want != got:
                raise EngineError(
                    f"input {self.name!r} expects {self._shape_text()}, got shape "
                    f"{shape} (axis {axis} is {got}, must be {want})"
                )
        if np.dtype(self.dtype) != np.dtype(dtype):
            raise EngineError(f"input {self.name!r} expects {self.dtype}, got {dtype}")

    def _shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


class Engine(ABC):
    """Runs one network on a batch; warmed up before first use so latency is steady. An engine
    whose ``device`` is set also takes a torch tensor already there (``infer_device``): the
    torch path hands it device memory, never a host copy."""

    max_batch: int
    device: str | None = None  # None: host arrays only

    def infer_device(self, batch: Any) -> list[npt.NDArray[np.float32]]:
        """Outputs for a torch tensor on :attr:`device` (only engines with a device)."""
        raise EngineError(f"{type(self).__name__} takes host arrays only, not device tensors")

    @property
    @abstractmethod
    def input_spec(self) -> InputSpec: ...

    @property
    @abstractmethod
    def output_names(self) -> list[str]: ...

    def output_shapes(self) -> dict[str, tuple[int | str | None, ...]]:
        """Declared output shapes (dynamic axes as names or None), for checking specs."""
        return {}

    @abstractmethod
    def infer(self, batch: npt.NDArray[np.generic]) -> list[npt.NDArray[np.float32]]:
        """Outputs in ``output_names`` order; the batch size is at most ``max_batch``."""

    def warm_up(self, batch_size: int = 1) -> None:
        """Run once on zeros so the first real batch does not pay for allocation."""
        shape = tuple(
            batch_size if i == 0 and d is None else (d if d is not None else 32)
            for i, d in enumerate(self.input_spec.shape)
        )
        self.infer(np.zeros(shape, dtype=self.input_spec.dtype))

    def infer_chunked(self, batch: npt.NDArray[np.generic]) -> list[npt.NDArray[np.float32]]:
        """Split a batch larger than ``max_batch`` and join the outputs."""
        if len(batch) <= self.max_batch:
            return self.infer(batch)
        parts = [
            self.infer(batch[i : i + self.max_batch]) for i in range(0, len(batch), self.max_batch)
        ]
        return [np.concatenate(outs, axis=0) for outs in zip(*parts, strict=True)]
