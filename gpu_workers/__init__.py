"""Inference workers: consume ``vigil.frames``, validate, decode, batch, run an engine
(TensorRT on GPU hosts, ONNX Runtime on CPU), post-process and produce ``vigil.detections``
with Kafka transactions. See DESIGN.md."""
