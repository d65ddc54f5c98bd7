# Developer entry points. Every target creates the virtual environment first if it is missing
# or older than the lock files, so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Installs use only the lock files and PyPI, not whatever pip configuration this machine has.
PIP := PIP_CONFIG_FILE=/dev/null $(BIN)/pip

.PHONY: up down demo test test-fast test-emulator bench bench-preflight lock clean

$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet --require-virtualenv -r requirements/dev.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@

up: $(VENV)/.installed  ## Main job: deploy dev/local to the local emulator, serve it, then take payments through it.
	$(BIN)/payments up
	$(BIN)/payments smoke

down: $(VENV)/.installed  ## Stop what `make up` started (data and deployments are kept).
	$(BIN)/payments down --all

demo: $(VENV)/.installed  ## Take one payment through the processor alone (no deploy).
	$(BIN)/payments demo

test: $(VENV)/.installed  ## Lint, type-check, then every test with coverage.
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term --cov-fail-under=95

test-fast: $(VENV)/.installed  ## Unit tests only (no servers).
	$(BIN)/pytest tests/unit -q

test-emulator: $(VENV)/.installed  ## The local target end to end against a moto server (minutes).
	$(BIN)/pytest tests/emulator -q

bench: $(VENV)/.installed  ## Processor throughput and latency against a raw baseline.
	$(BIN)/python bench/processor_bench.py

bench-preflight: $(VENV)/.installed  ## Preflight against checkov (installed in .bench/) on the same stacks.
	$(BIN)/python bench/preflight_bench.py

lock:  ## Re-resolve and pin every dependency.
	$(PIP) install --quiet pip-tools==7.6.2
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o lambda.txt lambda.in
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o dev.txt dev.in

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache .coverage
