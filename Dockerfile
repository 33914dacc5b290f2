# Vigil's services (CPU inference). GPU hosts add the `gpu` extra on an NVIDIA base image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vigil ./vigil
COPY schemas ./schemas
COPY connectors ./connectors
COPY gpu_workers ./gpu_workers
COPY streams ./streams
COPY dashboards ./dashboards
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT []
CMD ["vigil", "--help"]
