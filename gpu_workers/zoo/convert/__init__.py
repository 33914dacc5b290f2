"""Conversion scripts. They run with the isolated build environment's Python (TensorFlow,
tf2onnx, onnx), never inside Vigil's runtime, and write into the directory they are given."""
