# The README's commands. Everything a fresh machine needs is installed by `setup`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SCALE  ?= 1
# Test files run side by side on this many workers (each file on one worker: its module fixtures once).
TEST_WORKERS ?= 2
export DBT_SEND_ANONYMOUS_USAGE_STATS = false
export DO_NOT_TRACK = 1

.PHONY: setup demo test lint bench clean

$(BIN)/sdrun: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/sdrun

setup: $(BIN)/sdrun
	$(BIN)/sdrun setup

demo: setup
	$(BIN)/sdrun demo-data --out data/demo.db --scale $(SCALE) --force
	$(BIN)/sdrun full --source data/demo.db

test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(BIN)/ruff check orchestrator pytest_tests
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf runs warehouse data target logs
