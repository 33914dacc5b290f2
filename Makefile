# The README's two commands: `make demo` runs Vigil on the embedded defaults, `make test` tests it.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps models lint typecheck pytest bench compose-check clean

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

bench: install system-deps models
	$(BIN)/python -m bench.serde
	$(BIN)/python -m bench.models
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.cameras
	$(BIN)/python -m bench.sink
	$(BIN)/python -m bench.drift
	$(BIN)/python -m bench.worker
	$(BIN)/python -m bench.alerts

# the compose file needs its secrets: .env (see .env.example), or throwaway ones for the check
compose-check:
	KAFKA_PASSWORD=$${KAFKA_PASSWORD:-compose-check-only-0000} \
	CLICKHOUSE_PASSWORD=$${CLICKHOUSE_PASSWORD:-compose-check-only} \
	GRAFANA_ADMIN_PASSWORD=$${GRAFANA_ADMIN_PASSWORD:-compose-check-only} \
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
