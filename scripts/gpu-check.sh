#!/usr/bin/env bash
# The GPU check on a GPU host with torch, torchvision, onnx and onnxruntime and no network:
# installs the carried wheels into a temporary folder, restores the carried models, prints the
# GPU, then runs `python -m gpu_workers.gpu.check` (what `vigil gpu-check --all` runs; the CLI
# itself needs Vigil's whole stack, which does not fit in what a GPU host is sent).
#
#   make gpu-carry                       # here: .gpu-carry/ (wheels, models, frames), < 64 MiB
#   scripts/gpu-check.sh [OUT_DIR] [check options...]   # there: OUT_DIR/gpu-check.json
#
# A dry run on a CPU host: scripts/gpu-check.sh /tmp --device cpu --seconds 0.2
set -euo pipefail
cd "$(dirname "$0")/.."
carry=${GPU_CARRY:-.gpu-carry}
out=${1:-${OUT:-.}}
shift || true
[ -d "$carry/wheels" ] || { echo "no $carry: run 'make gpu-carry' where the registries are reachable" >&2; exit 2; }
py=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" "$carry"/wheels/*.whl
export PYTHONPATH="$PWD:$work/site${PYTHONPATH:+:$PYTHONPATH}"
"$py" scripts/gpu_carry.py unpack "$carry/models" "$work/cache/models"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: not here"
"$py" -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "torchvision", torchvision.__version__)'
mkdir -p "$out"
PYTHONUNBUFFERED=1 "$py" -m gpu_workers.gpu.check --cache-dir "$work/cache" --frames "$carry/frames" --out "$out/gpu-check.json" "$@"
