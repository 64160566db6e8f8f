# The two commands: `make run` (the mesh on the embedded default) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8

.PHONY: run test test-unit bench lint lock clean browser

$(VENV)/.installed: requirements.lock pyproject.toml
	python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	python3 -m uv venv --quiet --allow-existing --python 3.11 $(VENV)
	python3 -m uv pip install --quiet --python $(PY) -r requirements.lock
	python3 -m uv pip install --quiet --python $(PY) --no-deps -e .
	touch $@

venv: $(VENV)/.installed

## Start the demo sources and Airflow (scheduler, dag-processor, api-server :8080, triggerer); Ctrl-C stops all.
run: $(VENV)/.installed
	$(PY) -m demo.launcher

## Whole test suite: unit, end-to-end DAG runs, real Airflow, PostgreSQL, headless Chromium.
test: $(VENV)/.installed browser
	$(PY) -m pytest

test-unit: $(VENV)/.installed
	$(PY) -m pytest -m "not integration"

## Benchmarks (never part of the tests).
bench: $(VENV)/.installed
	$(PY) -m bench

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## Re-pin every dependency after editing pyproject.toml.
lock:
	python3 -m uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

## Debian's Chromium for the UI tests (a downloaded browser cannot be fetched here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf .airflow data/products data/staging data/quarantine data/metadata.db* data/openlineage
