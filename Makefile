# One entry point for the project. `make test` runs every check; `make run` starts the local stack.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ifneq ($(CURDIR),$(ROOT))
$(error make runs in the repository's root: cd $(ROOT) && make $(MAKECMDGOALS) (or make -C $(ROOT) $(MAKECMDGOALS)))
endif
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
SCAN   := .venv-scan
SCAN_LOCK := infra/scan-requirements.txt
SCAN_STAMP := $(SCAN)/.installed-$(shell cat $(SCAN_LOCK) | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help venv lock check run reset aws sam-local trigger inspect handler events burst bench chaos console ops cost test complexity unit integration e2e lint format typecheck pytest scan build clean

help:  ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(STAMP)  ## create .venv and install everything the project needs

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed (found $$($(PYTHON) --version)); set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "installing requirements.txt (locked, every hash checked) into $(VENV): about a minute the first time"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

lock: venv  ## refresh the lock files from requirements.in, functions/requirements.in and infra/scan-requirements.in (exact versions, hashes)
	$(BIN)/uv pip compile --universal --python-version 3.13 --generate-hashes --quiet --custom-compile-command "make lock" \
		functions/requirements.in -o functions/requirements.txt
	$(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet --custom-compile-command "make lock" \
		requirements.in -o requirements.txt
	$(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet --custom-compile-command "make lock" \
		infra/scan-requirements.in -o $(SCAN_LOCK)

run: venv  ## run the local stack (ARGS="--port 3000 --aws-port 5000 --verbose")
	$(BIN)/python -m infra.local $(ARGS)

reset: venv  ## forget what `make run ARGS=--persist` saved (.local-stack/)
	$(BIN)/python -m infra.local.persist reset

aws: venv  ## only the local AWS side, on loopback and the Docker bridge for `sam local` containers (ARGS="--aws-port 5000")
	$(BIN)/python -m infra.local --aws-only --aws-host docker $(ARGS)

trigger: venv  ## send a signed event to the local webhook: EVENT=payment_intent.succeeded or ARGS="--flow checkout"
	$(BIN)/python -m infra.local.trigger $(EVENT) $(ARGS)

inspect: venv  ## look inside the local stack (ARGS="events", "event evt_…", "tail --follow")
	$(BIN)/python -m infra.local.inspector $(or $(ARGS),events)

handler: venv  ## scaffold a handler for a new event type: make handler TYPE=price.updated (FAMILY=prices)
	@test -n "$(TYPE)" || { echo "usage: make handler TYPE=price.updated [FAMILY=prices]"; exit 2; }
	$(BIN)/python -m infra.local.scaffold $(TYPE) $(if $(FAMILY),--family $(FAMILY))

sam-local: venv  ## the function in its Lambda container behind `sam local start-api` (needs a running Docker engine)
	$(BIN)/python -m infra.local.sam_local $(ARGS)

events: venv  ## signed API Gateway events in .sam-events/ for `sam local invoke -e` (ARGS="--all" or types)
	$(BIN)/python -m infra.local.sam_events $(ARGS)

burst: venv  ## load the running local stack: 2,000 events at 16-way, prints throughput, latency, lost/doubled
	$(BIN)/python -m infra.bench.burst $(ARGS)

bench: venv  ## performance benchmark: cold start, warm CPU, AWS calls, package size vs floors, POST -> action latency (about 20 min; exit 1 on a missed budget)
	PATH="$$($(BIN)/python -m infra.build --bin-dir):$$PATH" $(BIN)/python -m infra.bench $(ARGS)

chaos: venv  ## the chaos test at 400 objects per topic kind (make chaos CHAOS_SEED=… replays a run; ~10 min)
	CHAOS_OBJECTS=$${CHAOS_OBJECTS:-400} $(BIN)/python -m pytest tests/integration/test_chaos.py -q $(ARGS)

console: venv  ## browse a stack on loopback: the running local stack (make run), or ARGS="--stack NAME" (--allow-actions to change)
	$(BIN)/python -m infra.console $(ARGS)

ops: venv  ## operate a deployed stack: ARGS="register|rotate-secret|enable-endpoint|backfill|verify|redrive|status|effects --stack NAME"
	$(BIN)/python -m infra.ops $(ARGS)

cost: venv  ## DynamoDB units and stored bytes per event measured under moto, the cost per million events (written into docs/performance.md), the reconciler's calls and units
	$(BIN)/python -m infra.bench.costs && $(BIN)/python -m infra.ops.cost --write-docs $(ARGS)

test: venv  ## every check: ruff, mypy, xenon, checkov, pytest (incl. cfn-lint, sam validate, sam build, browser tests)
	@start=$$(date +%s); $(MAKE) --no-print-directory lint typecheck complexity scan pytest; \
		status=$$?; echo "make test took $$(( $$(date +%s) - start )) s (target: under 600 s on 2 cores)"; exit $$status

WRITE_PATH = $(addprefix functions/stripe_webhook/,adapters/store.py adapters/claim.py adapters/lease.py adapters/table.py core/ordering.py adapters/publisher.py)

complexity: venv  ## the complexity gate: no block in functions/ ranked worse than C, none on the write path worse than B (xenon, radon's ranks)
	$(BIN)/xenon --max-absolute C functions
	$(BIN)/xenon --max-absolute B $(WRITE_PATH)

CHECK_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
# two workers a core: many integration tests wait (deadlines, backoff, a loopback Stripe), and
# another's work fills the wait; worksteal evens out the tail.

check: venv  ## the edit loop (under 120 s on 2 cores): lint, types, complexity, unit and integration tests but the slow ones, two workers a core (no Docker, no browser)
	@start=$$(date +%s); $(MAKE) --no-print-directory lint typecheck complexity \
		&& SAM_CLI_TELEMETRY=0 $(BIN)/python -m pytest -n $(CHECK_WORKERS) --dist worksteal tests/unit tests/integration -m "not slow" -q $(ARGS); \
		status=$$?; echo "make check took $$(( $$(date +%s) - start )) s (target: under 120 s on 2 cores)"; exit $$status

unit: venv  ## the edit loop: pure tests, sockets disabled (a few seconds)
	$(BIN)/python -m pytest tests/unit -q $(ARGS)

integration: venv  ## the real handler under moto, fault models, the template (cfn-lint, sam validate, sam build), on every core
	SAM_CLI_TELEMETRY=0 $(BIN)/python -m pytest -n auto tests/integration $(ARGS)

e2e: venv  ## the local stack over real HTTP on loopback, the tools as a person runs them, a bench smoke run
	$(BIN)/python -m pytest tests/e2e $(ARGS)

lint: venv  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv  ## format, apply ruff's safe fixes, then list what is left to fix by hand
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format --quiet .
	$(BIN)/ruff check .

typecheck: venv  ## mypy (strict) on the function, the tooling and the tests
	$(BIN)/mypy functions infra tests

pytest: venv  ## the test suite, unit and integration on every core, then e2e (one local stack), with the slowest tests named (ARGS="-k dispute" to filter)
	@SAM_CLI_TELEMETRY=0 $(BIN)/python -m pytest -n auto --durations=10 tests/unit tests/integration $(ARGS); first=$$?; \
		SAM_CLI_TELEMETRY=0 $(BIN)/python -m pytest --durations=10 tests/e2e $(ARGS); second=$$?; \
		for status in $$first $$second; do [ $$status -eq 0 ] || [ $$status -eq 5 ] || exit $$status; done  # 5: ARGS selected none there

scan: $(SCAN_STAMP)  ## static security scan of template.yaml and infra/modules/ (checkov, offline; its own locked venv)
	$(SCAN)/bin/checkov --config-file .checkov.yaml --file template.yaml $(foreach module,$(wildcard infra/modules/*.yaml),--file $(module)) --framework cloudformation --skip-download --quiet --compact

$(SCAN_STAMP): $(SCAN_LOCK)
	$(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(SCAN_LOCK)
	rm -f $(SCAN)/.installed-* && touch $@

build: venv  ## sam build with python3.13 (the function's runtime), found on PATH or under pyenv
	$(BIN)/python -m infra.build

clean:  ## remove the virtualenv and build output
	rm -rf $(VENV) $(SCAN) .aws-sam .mypy_cache .pytest_cache .ruff_cache
