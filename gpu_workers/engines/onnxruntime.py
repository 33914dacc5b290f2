"""ONNX Runtime on CPU: the default engine, and the reference the TensorRT engine is checked
against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from gpu_workers.engines.base import Engine, EngineError, InputSpec

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(uint8)": "uint8",
    "tensor(float16)": "float16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def declared_io(session: ort.InferenceSession, path: Path) -> tuple[InputSpec, list[str]]:
    """The one input (dynamic axes as None) and the output names the file declares."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise EngineError(f"{path} has {len(inputs)} inputs; adapters need exactly 1")
    meta = inputs[0]
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in meta.shape)
    spec = InputSpec(meta.name, shape, _DTYPES.get(meta.type, "float32"))
    return spec, [o.name for o in session.get_outputs()]


def cpu_session(path: Path) -> ort.InferenceSession:
    """A plain CPU session: what other engines read the file's declarations from."""
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EngineError(f"cannot load ONNX model {path}: {exc}") from exc


def gpu_providers_first() -> list[str]:
    """TensorRT and CUDA execution providers when this onnxruntime build has them, then CPU."""
    available = set(ort.get_available_providers())
    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    return [*gpu, "CPUExecutionProvider"]


class OnnxRuntimeEngine(Engine):
    """One InferenceSession with a fixed thread budget (workers share cores with Kafka I/O)."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 2,
        max_batch: int = 8,
        output_names: list[str] | None = None,
        providers: list[str] | None = None,
        spinning: bool = True,
    ) -> None:
        if not model_path.is_file():
            raise EngineError(f"model file not found: {model_path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if not spinning:  # a worker's decode and Kafka threads share the cores: do not spin
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(model_path),
                sess_options=options,
                providers=providers or ["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EngineError(f"cannot load ONNX model {model_path}: {exc}") from exc
        self._input, available = declared_io(self._session, model_path)
        missing = [n for n in output_names or [] if n not in available]
        if missing:
            raise EngineError(f"{model_path} has no output(s) {missing}; it has {available}")
        self._outputs = output_names or available
        self.max_batch = max_batch
        self.path = model_path
        self.providers = list(self._session.get_providers())

    @property
    def input_spec(self) -> InputSpec:
        return self._input

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def output_shapes(self) -> dict[str, tuple[int | str | None, ...]]:
        """Declared output shapes, for checking a spec against the file."""
        return {o.name: tuple(o.shape) for o in self._session.get_outputs()}

    def infer(self, batch: npt.NDArray[np.generic]) -> list[npt.NDArray[np.float32]]:
        self._input.check(batch)
        try:
            outs = self._session.run(self._outputs, {self._input.name: batch})
        except Exception as exc:  # onnxruntime's errors are untyped
            raise EngineError(f"inference failed on {self.path.name}: {exc}") from exc
        return [np.asarray(o) for o in outs]
