# The two commands: `make run` (the mesh on the embedded default) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
# datacontract-cli (the ODCS reference tool the tests run) in a venv of its own: beside Airflow it would
# downgrade python-dateutil, typer and duckdb. Pinned by requirements-datacontract.lock.
DATACONTRACT_VENV ?= .venv-datacontract
export DATACONTRACT_BIN ?= $(abspath $(DATACONTRACT_VENV))/bin/datacontract

.PHONY: run run-distributed test test-unit bench lint lock clean browser datacontract

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	python3 -m uv venv --quiet --allow-existing --python 3.11 $(VENV)
	python3 -m uv pip install --quiet --python $(PY) -r requirements.lock
	python3 -m uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

venv: $(VENV)/.installed

$(DATACONTRACT_VENV)/.installed: requirements-datacontract.lock
	python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	python3 -m uv venv --quiet --allow-existing --python 3.11 $(DATACONTRACT_VENV)
	python3 -m uv pip sync --quiet --python $(DATACONTRACT_VENV)/bin/python requirements-datacontract.lock
	touch $@

datacontract: $(DATACONTRACT_VENV)/.installed

## Start the demo sources and Airflow (scheduler, dag-processor, api-server :8080, triggerer); Ctrl-C stops all.
run: $(VENV)/.installed
	$(PY) -m demo.launcher

## The production topology without Docker: CeleryExecutor (Redis broker, two workers), PostgreSQL, S3 (moto).
run-distributed: $(VENV)/.installed
	$(PY) -m demo.distributed

## Whole test suite: unit, end-to-end DAG runs, real Airflow, PostgreSQL, headless Chromium.
test: $(VENV)/.installed $(DATACONTRACT_VENV)/.installed browser
	$(PY) -m pytest

test-unit: $(VENV)/.installed $(DATACONTRACT_VENV)/.installed
	$(PY) -m pytest -m "not integration"

## Benchmarks (never part of the tests).
bench: $(VENV)/.installed
	$(PY) -m bench

## Lint and type-check (ruff on everything, mypy on the platform package).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	cd plugins && ../$(VENV)/bin/mypy data_mesh --ignore-missing-imports --python-version 3.11

## Re-pin every dependency after editing pyproject.toml (or tools/datacontract.in).
lock:
	python3 -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	python3 -m uv pip compile tools/datacontract.in --python-version 3.11 -o requirements-datacontract.lock

## Debian's Chromium for the UI tests (a downloaded browser cannot be fetched here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf .airflow .airflow-distributed data/products data/staging data/quarantine data/metadata.db* data/openlineage
