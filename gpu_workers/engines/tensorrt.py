"""TensorRT on an NVIDIA GPU: builds a serialized engine from the ONNX (dynamic batch via an
optimisation profile, FP16 when the GPU has it, a timing cache), caches it by GPU name +
TensorRT version + ONNX sha256, and runs it with pinned host buffers, device buffers and an
async CUDA stream. The memory comes from torch where torch sees the GPU (then the engine also
takes the torch path's device tensors, ``infer_device``, and needs no pycuda), from pycuda
otherwise. Imports TensorRT, torch and pycuda only when constructed: the module imports
anywhere. NOT run on a GPU yet (see the README)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gpu_workers.engines.base import Engine, EngineError, InputSpec
from gpu_workers.engines.onnxruntime import cpu_session, declared_io
from gpu_workers.engines.trt_plan import ProfileShapes, buffer_bytes, cache_key, profile_shapes
from vigil.files import sha256_of

GPU_EXTRA = "pip install 'vigil[gpu]' on a host with an NVIDIA GPU and the CUDA toolkit"
log = logging.getLogger("vigil.tensorrt")


def import_gpu_stack() -> tuple[Any, Any]:
    """(tensorrt, pycuda.driver) with a CUDA context, or an EngineError saying what is missing."""
    trt = import_tensorrt()
    try:
        import pycuda.autoinit  # noqa: F401
        import pycuda.driver as cuda
    except ImportError as exc:
        raise EngineError(f"pycuda is not installed: {GPU_EXTRA} ({exc})") from exc
    except Exception as exc:  # pycuda raises its own errors when no GPU/driver is present
        raise EngineError(f"no usable CUDA GPU: {exc}") from exc
    return trt, cuda


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineError(f"TensorRT is not installed: {GPU_EXTRA} ({exc})") from exc
    return trt


def torch_with_cuda() -> Any | None:
    """torch where it is installed and sees a GPU (its memory and streams serve TensorRT)."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


class TensorRtEngine(Engine):
    def __init__(
        self,
        onnx_path: Path,
        *,
        max_batch: int,
        output_names: list[str] | None,
        fp16: bool,
        opt_batch: int | None,
        workspace_mib: int,
        engine_dir: Path,
    ) -> None:
        if not onnx_path.is_file():
            raise EngineError(f"model file not found: {onnx_path}")
        self._torch: Any = torch_with_cuda()
        cuda: Any = None
        if self._torch is not None:
            trt = import_tensorrt()
            self.gpu_name = str(self._torch.cuda.get_device_name(0))
            self.device = "cuda:0"
        else:
            trt, cuda = import_gpu_stack()
            self.gpu_name = str(cuda.Device(0).name())
        self._trt, self._cuda = trt, cuda
        self.max_batch = max_batch
        self.path = onnx_path
        self._logger = trt.Logger(trt.Logger.WARNING)
        declared, _outputs = declared_io(cpu_session(onnx_path), onnx_path)
        input_name, input_shape = declared.name, declared.shape
        self.profile = profile_shapes(input_shape, max_batch, opt_batch)
        self.fp16 = fp16
        engine_dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(self.gpu_name, trt.__version__, sha256_of(onnx_path), self.profile, fp16)
        self.engine_path = engine_dir / key
        plan = self._load_or_build(onnx_path, input_name, workspace_mib, engine_dir)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise EngineError(f"TensorRT could not load {self.engine_path}")
        self._context = self._engine.create_execution_context()
        self._input = declared
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        missing = [n for n in output_names or [] if n not in outputs]
        if missing:
            raise EngineError(f"{onnx_path} has no output(s) {missing}; it has {outputs}")
        self._outputs = output_names or outputs
        if self._torch is not None:
            self._allocate_torch()
        else:
            self._stream = cuda.Stream()
            self._allocate()

    def _load_or_build(
        self, onnx_path: Path, input_name: str, workspace_mib: int, engine_dir: Path
    ) -> bytes:
        if self.engine_path.is_file():
            return self.engine_path.read_bytes()
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # explicit batch (TensorRT 10's only mode)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise EngineError(f"TensorRT cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
        if self.fp16 and builder.platform_has_fast_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        timing_file = engine_dir / f"timing-{self.engine_path.name.split('_')[0]}.cache"
        timing = config.create_timing_cache(
            timing_file.read_bytes() if timing_file.is_file() else b""
        )
        config.set_timing_cache(timing, ignore_mismatch=False)
        profile = builder.create_optimization_profile()
        p: ProfileShapes = self.profile
        profile.set_shape(input_name, p.min, p.opt, p.max)
        config.add_optimization_profile(profile)
        log.info("building TensorRT engine %s (minutes on first use)", self.engine_path.name)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError(f"TensorRT failed to build an engine for {onnx_path}")
        plan = bytes(serialized)
        tmp = self.engine_path.with_suffix(".tmp")
        tmp.write_bytes(plan)
        tmp.replace(self.engine_path)
        timing_file.write_bytes(bytes(config.get_timing_cache().serialize()))
        return plan

    def _allocate(self) -> None:
        """Pinned host and device buffers sized for the profile's max shape."""
        trt, cuda = self._trt, self._cuda
        self._context.set_input_shape(self._input.name, self.profile.max)
        self._host: dict[str, npt.NDArray[Any]] = {}
        self._device: dict[str, Any] = {}
        for name in [self._input.name, *self._outputs]:
            shape = tuple(self._context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            size = buffer_bytes(shape, dtype)
            self._host[name] = cuda.pagelocked_empty(size // dtype.itemsize, dtype)
            self._device[name] = cuda.mem_alloc(size)
            self._context.set_tensor_address(name, int(self._device[name]))

    def _allocate_torch(self) -> None:
        """Device buffers from torch (the profile's max shape), pinned host outputs."""
        trt, torch = self._trt, self._torch
        self._context.set_input_shape(self._input.name, self.profile.max)
        self._tdevice: dict[str, Any] = {}
        self._thost: dict[str, Any] = {}
        for name in [self._input.name, *self._outputs]:
            shape = tuple(self._context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(name)))
            tdtype = getattr(torch, str(dtype))
            self._tdevice[name] = torch.empty(shape, dtype=tdtype, device=self.device)
            if name != self._input.name:
                self._thost[name] = torch.empty(shape, dtype=tdtype).pin_memory()
            self._context.set_tensor_address(name, self._tdevice[name].data_ptr())

    def infer_device(self, batch: Any) -> list[npt.NDArray[np.float32]]:
        """A torch tensor on the GPU: TensorRT reads it where it lies (torch memory only)."""
        torch = self._torch
        if torch is None or not isinstance(batch, torch.Tensor):
            raise EngineError("infer_device takes a torch CUDA tensor (torch sees no GPU here)")
        self._input.check_shape(tuple(batch.shape), str(batch.dtype).removeprefix("torch."))
        if len(batch) > self.max_batch:
            raise EngineError(f"batch of {len(batch)} exceeds max_batch {self.max_batch}")
        return self._run_torch(batch.contiguous())

    def _run_torch(self, x: Any) -> list[npt.NDArray[np.float32]]:
        torch, name = self._torch, self._input.name
        stream = torch.cuda.current_stream()
        self._context.set_input_shape(name, tuple(x.shape))
        self._context.set_tensor_address(name, x.data_ptr())
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise EngineError(f"TensorRT inference failed on {self.path.name}")
        shapes = {out: tuple(self._context.get_tensor_shape(out)) for out in self._outputs}
        views = []
        for out, shape in shapes.items():
            count = int(np.prod(shape))
            host = self._thost[out].view(-1)[:count]
            host.copy_(self._tdevice[out].view(-1)[:count], non_blocking=True)
            views.append((host, shape))
        stream.synchronize()
        return [np.array(h.numpy().reshape(shape), dtype=np.float32) for h, shape in views]

    @property
    def input_spec(self) -> InputSpec:
        return self._input

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def infer(self, batch: npt.NDArray[np.generic]) -> list[npt.NDArray[np.float32]]:
        self._input.check(batch)
        if len(batch) > self.max_batch:
            raise EngineError(f"batch of {len(batch)} exceeds max_batch {self.max_batch}")
        if self._torch is not None:
            staged = self._torch.from_numpy(np.ascontiguousarray(batch)).pin_memory()
            return self._run_torch(staged.to(self.device, non_blocking=True))
        cuda, name = self._cuda, self._input.name
        self._context.set_input_shape(name, tuple(batch.shape))
        host_in = self._host[name]
        np.copyto(host_in[: batch.size], batch.ravel())
        cuda.memcpy_htod_async(self._device[name], host_in[: batch.size], self._stream)
        if not self._context.execute_async_v3(self._stream.handle):
            raise EngineError(f"TensorRT inference failed on {self.path.name}")
        results = []
        for out in self._outputs:
            shape = tuple(self._context.get_tensor_shape(out))
            count = int(np.prod(shape))
            cuda.memcpy_dtoh_async(self._host[out][:count], self._device[out], self._stream)
            results.append((out, shape, count))
        self._stream.synchronize()
        return [
            np.array(self._host[out][:count].reshape(shape), dtype=np.float32)
            for out, shape, count in results
        ]
