# Peerscore — `make help` lists the targets. Everything installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=


.PHONY: help setup browser run test test-unit test-integration lint fmt typecheck bench bench-crm bench-backtest bench-influence bench-model bench-identity bench-ingest bench-e2e test-faults clean migration

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install uv (if missing) and the locked workspace into .venv
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: setup ## Start the embedded broker, the three services and sample traffic (Ctrl-C stops all)
	@$(UV) run --frozen peerscore dev

browser: ## Install Debian's Chromium for the console's browser tests (when /usr/bin/chromium is missing)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup browser ## Run the whole test suite (PostgreSQL too when TEST_DATABASE_URL is set)
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

test-faults: setup ## The failure suite: SIGKILLs, broker restart (S3 storage), database outage, poison flood (a few minutes)
	@$(UV) run --frozen pytest tests/faults -m faults $(PYTEST_ARGS)

test-unit: setup ## Unit tests only (no broker, no database server)
	@$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-integration: setup browser ## Integration, end-to-end and browser tests (embedded broker, databases)
	@$(UV) run --frozen pytest tests/integration tests/e2e tests/browser $(PYTEST_ARGS)

lint: setup ## ruff + mypy + the import contracts (ARCHITECTURE.md)
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/ingest/src services/scoring/src services/crm-sync/src tools/src testkit/src
	@$(UV) run --frozen lint-imports

fmt: setup ## Format and autofix
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

bench: setup ## Measure throughput on the embedded broker (prints a table, writes var/bench/*.json)
	@$(UV) run --frozen python bench/scoring.py
	@$(UV) run --frozen python bench/scoring_live.py
	@$(UV) run --frozen python bench/crm.py
	@$(UV) run --frozen python bench/backtest.py
	@$(UV) run --frozen python bench/influence.py
	@$(UV) run --frozen python bench/model.py
	@$(UV) run --frozen python bench/ingest.py
	@$(UV) run --frozen python bench/e2e.py

bench-e2e: setup ## HTTP accept → local CRM row at 1,000 events/s offered (p50/p99) + peak memory per service, writes var/bench/e2e.json
	@$(UV) run --frozen python bench/e2e.py

bench-crm: setup ## CRM upserts/s under a CRM rate limit (strict fake HubSpot) + CRM calls per lead per hour under 1,000 updates/s (simulated clock), writes var/bench/crm.json
	@$(UV) run --frozen python bench/crm.py

bench-backtest: setup ## Backtest replay speed: 1M events of history (BENCH_BACKTEST_EVENTS), writes var/bench/backtest.json
	@$(UV) run --frozen python bench/backtest.py

bench-influence: setup ## Influence report (peerscore insights build) over 1M stored events (BENCH_INFLUENCE_EVENTS): time + peak RSS, writes var/bench/influence.json
	@$(UV) run --frozen python bench/influence.py

bench-ingest: setup ## Events/s through /v1/batch → Kafka ack at batch sizes 1/100/500 vs a bare producer, writes var/bench/ingest.json
	@$(UV) run --frozen python bench/ingest.py

bench-model: setup ## Model vs rules (ROC-AUC, top-decile lift) on generated history + online prediction cost, writes var/bench/model.json
	@$(UV) run --frozen python bench/model.py

bench-identity: setup ## Cost of identity merges, durable dedup and consent inside the scoring handler, writes var/bench/identity.json
	@$(UV) run --frozen python bench/identity.py

migration: setup ## Autogenerate an Alembic migration from the models: make migration MSG="add x to y"
	@test -n "$(MSG)" || { echo 'usage: make migration MSG="what the migration does"'; exit 2; }
	@$(UV) run --frozen peerscore db revision -m "$(MSG)"
	@$(UV) run --frozen ruff format --quiet shared/src/peerscore/migrations/versions
	@$(UV) run --frozen ruff check --fix --quiet shared/src/peerscore/migrations/versions

clean: ## Remove local state (SQLite files, logs, bench results)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
