# Each target bootstraps the virtualenv it needs: a fresh clone needs only Python 3.11+, make and git.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint typecheck unit component integration faults bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/switchboard dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	# four workers, each with its own embedded broker and valkey (most tests wait on them
	# more than they compute); two tests at a time per worker, slow ones first (conftest)
	$(BIN)/pytest -n 4 --maxschedchunk 2

unit: $(STAMP)
	$(BIN)/pytest -m unit

component: $(STAMP)
	$(BIN)/pytest -n 4 --maxschedchunk 2 -m component

integration: $(STAMP)
	$(BIN)/pytest -m integration -rs

# The fault and fuzz tests at full size (`make test` runs them small): longer outages,
# more load, a 100,000-ticket day, more examples.
faults: $(STAMP)
	FAULTS_SCALE=large $(BIN)/pytest -m "faults or fuzz" tests/faults tests/fuzz --timeout=600

bench: $(STAMP)
	$(BIN)/switchboard bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
