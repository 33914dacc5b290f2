# The README's two commands: `make demo` runs Vigil on the embedded defaults, `make test` tests it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps models lint typecheck pytest bench faults soak compose-check clean \
	gpu-carry test-torch

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python >= 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

# Default models, prepared once per machine into ~/.cache/vigil/models (a no-op when verified).
models: install system-deps
	$(BIN)/vigil models prepare

demo: install system-deps models
	$(BIN)/vigil demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # the layers (.importlinter)
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install system-deps models
	$(BIN)/pytest

test: lint typecheck pytest

# every bench in one run: one JSON document (bench/results.json), and the README's table from it
bench: install system-deps models
	$(BIN)/python -m bench --out bench/results.json
	$(BIN)/python -m bench.table bench/results.json --readme README.md

# the full fault suite (six faults on a 3-node cluster, tests/faults): its measurements go to
# bench/results-faults.json for the README's table; `make test` runs its short profile
faults: install system-deps models
	VIGIL_FAULTS_PROFILE=full VIGIL_FAULTS_RESULTS=bench/results-faults.json $(BIN)/pytest tests/faults

# not in CI: 16 looping cameras at 5 fps through the whole pipeline for SOAK_MINUTES (30)
SOAK_MINUTES ?= 30
soak: install system-deps models
	$(BIN)/python -m tests.faults.soak --minutes $(SOAK_MINUTES) --out bench/results-soak.json

# GPU hosts (not in CI): .gpu-carry/ is what scripts/gpu-check.sh needs there beside the tree
# (wheels for GPU_PYTHON, the default models, frames); test-torch runs the torch path's tests on
# this CPU in .venv-torch (torch, torchvision, onnx2torch from PyPI: a multi-GB download)
GPU_PYTHON ?= 3.12
gpu-carry: install models
	$(BIN)/python scripts/gpu_carry.py pack --out .gpu-carry --python $(GPU_PYTHON)

TORCH_SITE = $$(.venv-torch/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
test-torch: install system-deps models
	[ -x .venv-torch/bin/python ] || $(PYTHON) -m venv .venv-torch
	.venv-torch/bin/pip install -q torch torchvision 'onnx2torch>=1.5.15'
	echo "$(CURDIR)/$(VENV)/lib/python3.11/site-packages" > $(TORCH_SITE)/zz-vigil-venv.pth
	PYTHONPATH=$(CURDIR) .venv-torch/bin/python -m pytest -p no:cacheprovider \
		tests/gpu_workers/gpu tests/gpu_workers/engines tests/gpu_workers/worker/test_torch_path.py

# the compose file needs its secrets: .env (see .env.example), or throwaway ones for the check
compose-check:
	KAFKA_PASSWORD=$${KAFKA_PASSWORD:-compose-check-only-0000} \
	CLICKHOUSE_PASSWORD=$${CLICKHOUSE_PASSWORD:-compose-check-only} \
	GRAFANA_ADMIN_PASSWORD=$${GRAFANA_ADMIN_PASSWORD:-compose-check-only} \
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
