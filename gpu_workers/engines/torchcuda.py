"""torch as an engine, for GPU hosts without TensorRT: the same ONNX file converted to a torch
module (onnx2torch), run on a CUDA GPU with pinned host buffers and one CUDA graph per batch
size bucket, in FP16 where every output stays within :func:`within_fp16_tolerance` of FP32 on a
probe batch. On the CPU device (tests, dry runs of the GPU check) it runs FP32, eagerly.

TensorRT stays the first choice where it is installed; both sit behind ``Engine``. The CPU
paths are tested against ONNX Runtime (``tests/gpu_workers/engines/test_torch.py``); the CUDA
paths (pinned copies, graphs, FP16) have NOT run on a GPU yet (see the README)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gpu_workers.engines.base import Engine, EngineError, InputSpec
from gpu_workers.engines.onnxruntime import cpu_session, declared_io
from gpu_workers.engines.stack import require, torch_device

log = logging.getLogger("vigil.torch")
FP32_TOLERANCE = 1e-3  # max abs difference from ONNX Runtime on CPU
FP16_RELATIVE, FP16_ABSOLUTE = 0.01, 1e-3  # of the output's largest FP32 magnitude, plus
_PROBE_BATCH = 4


def within_fp16_tolerance(reference: npt.NDArray[Any], got: npt.NDArray[Any]) -> bool:
    """Whether an FP16 output is close enough to FP32: max |got - ref| <= 1 % of max |ref| +
    1e-3 (a logit of 20 may move by 0.2; a sigmoid score by 0.001 + 1 % of the largest)."""
    ref = np.asarray(reference, np.float64)
    bound = FP16_RELATIVE * float(np.max(np.abs(ref), initial=0.0)) + FP16_ABSOLUTE
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref), initial=0.0)) <= bound


def buckets(max_batch: int) -> list[int]:
    """Batch sizes with a CUDA graph each: powers of two below ``max_batch``, and it."""
    out, b = [], 1
    while b < max_batch:
        out.append(b)
        b *= 2
    return [*out, max_batch]


class TorchEngine(Engine):
    def __init__(
        self,
        onnx_path: Path,
        *,
        max_batch: int,
        output_names: list[str] | None,
        device: str = "auto",
        fp16: bool = True,
        cuda_graphs: bool = True,
    ) -> None:
        if not onnx_path.is_file():
            raise EngineError(f"model file not found: {onnx_path}")
        what = f"the torch engine ({onnx_path.name})"
        self.torch = require("torch", what)
        onnx2torch = require("onnx2torch", what)
        self.device = torch_device(device, what)
        self.path = onnx_path
        self.max_batch = max_batch
        session = cpu_session(onnx_path)
        self._input, available = declared_io(session, onnx_path)
        self._shapes = {o.name: tuple(o.shape) for o in session.get_outputs()}
        missing = [n for n in output_names or [] if n not in available]
        if missing:
            raise EngineError(f"{onnx_path} has no output(s) {missing}; it has {available}")
        self._all = available
        self._outputs = output_names or available
        try:
            module = onnx2torch.convert(str(onnx_path))
        except Exception as exc:  # an op onnx2torch lacks, or a graph it cannot read
            raise EngineError(f"onnx2torch cannot convert {onnx_path}: {exc}") from exc
        self._module = module.eval().to(self.device)
        self.cuda = self.device.startswith("cuda")
        self.precision = "fp32"
        self.probe_max_abs_diff: dict[str, float] = {}
        if fp16 and self.cuda:
            self._try_fp16()
        self._graphs: dict[tuple[int, ...], tuple[Any, Any, list[Any]]] = {}
        self._use_graphs = cuda_graphs and self.cuda
        self._pinned: Any = None

    # -- the contract -------------------------------------------------------------------------

    @property
    def input_spec(self) -> InputSpec:
        return self._input

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def output_shapes(self) -> dict[str, tuple[int | str | None, ...]]:
        return {n: self._shapes[n] for n in self._outputs}

    def infer(self, batch: npt.NDArray[np.generic]) -> list[npt.NDArray[np.float32]]:
        self._input.check(batch)
        self._check_size(len(batch))
        return self._run(self._upload(batch))

    def infer_device(self, batch: Any) -> list[npt.NDArray[np.float32]]:
        """A torch tensor already on :attr:`device`: no host copy of the input."""
        torch = self.torch
        if not isinstance(batch, torch.Tensor):
            raise EngineError(f"infer_device takes a torch tensor, got {type(batch).__name__}")
        if str(batch.device) != str(torch.device(self.device)):
            raise EngineError(f"the tensor is on {batch.device}, the engine on {self.device}")
        # torch's dtype names are numpy's after the prefix (torch.float32, torch.uint8)
        self._input.check_shape(tuple(batch.shape), str(batch.dtype).removeprefix("torch."))
        self._check_size(len(batch))
        return self._run(batch.contiguous())

    # -- running ------------------------------------------------------------------------------

    def _check_size(self, n: int) -> None:
        if n > self.max_batch:
            raise EngineError(f"batch of {n} exceeds max_batch {self.max_batch}")

    def _upload(self, batch: npt.NDArray[np.generic]) -> Any:
        torch = self.torch
        host = torch.from_numpy(np.ascontiguousarray(batch))
        if not self.cuda:
            return host
        if (
            self._pinned is None
            or self._pinned.numel() < host.numel()
            or self._pinned.dtype != host.dtype
        ):
            self._pinned = torch.empty(host.numel(), dtype=host.dtype).pin_memory()
        staged = self._pinned[: host.numel()].view(host.shape)
        staged.copy_(host)
        return staged.to(self.device, non_blocking=True)

    def _forward(self, x: Any) -> list[Any]:
        if self.precision == "fp16" and x.dtype == self.torch.float32:
            x = x.half()
        out = self._module(x)
        outs = list(out) if isinstance(out, tuple | list) else [out]
        named = dict(zip(self._all, outs, strict=True))
        return [named[n].float() for n in self._outputs]

    def _run(self, x: Any) -> list[npt.NDArray[np.float32]]:
        torch = self.torch
        with torch.inference_mode():
            outs = self._replay(x) if self._use_graphs else self._forward(x)
            host = [o.to("cpu", non_blocking=self.cuda) for o in outs]
            if self.cuda:
                torch.cuda.current_stream().synchronize()
        return [np.asarray(h.numpy(), np.float32) for h in host]

    def _replay(self, x: Any) -> list[Any]:
        """The batch padded to its bucket through that bucket's CUDA graph (captured on first
        use); a capture that fails turns graphs off, with a warning, and runs eagerly."""
        n = len(x)
        size = next(b for b in buckets(self.max_batch) if b >= n)
        key = (size, *x.shape[1:])  # a model with dynamic spatial axes: a graph per size too
        try:
            graph, static_in, static_out = self._graphs.get(key) or self._capture(key, x)
        except RuntimeError as exc:
            log.warning(
                "CUDA graph capture failed for %s, running eagerly: %s", self.path.name, exc
            )
            self._use_graphs = False
            return self._forward(x)
        static_in[:n].copy_(x)
        graph.replay()
        return [o[:n] for o in static_out]

    def _capture(self, key: tuple[int, ...], like: Any) -> tuple[Any, Any, list[Any]]:
        torch = self.torch
        static_in = torch.zeros(key, dtype=like.dtype, device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream, the documented recipe
                self._forward(static_in)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._forward(static_in)
        self._graphs[key] = (graph, static_in, static_out)
        return self._graphs[key]

    # -- precision ----------------------------------------------------------------------------

    def _try_fp16(self) -> None:
        """Keep an FP16 module only if a probe batch's outputs stay within tolerance."""
        torch = self.torch
        probe = probe_batch(self._input, _PROBE_BATCH)
        x = torch.from_numpy(probe).to(self.device)
        with torch.inference_mode():
            want = [o.cpu().numpy() for o in self._forward(x)]
            if self._input.dtype != "float32":
                return  # a uint8 input: the graph casts it itself; FP16 is not tried
            self._module = self._module.half()
            self.precision = "fp16"
            try:
                got = [o.cpu().numpy() for o in self._forward(x)]
            except RuntimeError as exc:  # an op with no FP16 kernel, a cast to float32 inside
                log.info("%s stays FP32: FP16 does not run (%s)", self.path.name, exc)
                self._module = self._module.float()
                self.precision = "fp32"
                return
        self.probe_max_abs_diff = {
            n: float(np.max(np.abs(w - g)))
            for n, w, g in zip(self._outputs, want, got, strict=True)
        }
        beyond = [
            n
            for n, w, g in zip(self._outputs, want, got, strict=True)
            if not within_fp16_tolerance(w, g)
        ]
        if beyond:
            log.info(
                "%s stays FP32: FP16 outputs %s beyond tolerance (%s)",
                self.path.name,
                beyond,
                self.probe_max_abs_diff,
            )
            self._module = self._module.float()
            self.precision = "fp32"


def probe_batch(spec: InputSpec, n: int) -> npt.NDArray[np.generic]:
    """A seeded batch of ``spec``'s shape (dynamic axes 32): uint8 0..255 or floats in [-1, 1]."""
    shape = tuple(n if i == 0 else (d or 32) for i, d in enumerate(spec.shape))
    rng = np.random.default_rng(0)
    if spec.dtype == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
