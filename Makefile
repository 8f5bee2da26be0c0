# Peerscore — `make help` lists the targets. Everything installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=


.PHONY: help setup run test test-unit test-integration lint fmt typecheck bench bench-crm bench-backtest clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install uv (if missing) and the locked workspace into .venv
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: setup ## Start the embedded broker, the three services and sample traffic (Ctrl-C stops all)
	@$(UV) run --frozen peerscore dev

test: setup ## Run the whole test suite (PostgreSQL too when TEST_DATABASE_URL is set)
	@$(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: setup ## Unit tests only (no broker, no database server)
	@$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## Integration and end-to-end tests (embedded broker, databases)
	@$(UV) run --frozen pytest tests/integration tests/e2e $(PYTEST_ARGS)

lint: setup ## ruff + mypy
	@$(UV) run --frozen ruff check .
	@$(UV) run --frozen ruff format --check .
	@$(UV) run --frozen mypy shared/src services/ingest/src services/scoring/src services/crm-sync/src

fmt: setup ## Format and autofix
	@$(UV) run --frozen ruff format .
	@$(UV) run --frozen ruff check --fix .

bench: setup ## Measure throughput on the embedded broker (prints a table, writes var/bench/*.json)
	@$(UV) run --frozen python bench/scoring.py
	@$(UV) run --frozen python bench/crm.py
	@$(UV) run --frozen python bench/backtest.py

bench-crm: setup ## CRM upserts/s under a CRM rate limit, against the strict fake HubSpot (writes var/bench/crm.json)
	@$(UV) run --frozen python bench/crm.py

bench-backtest: setup ## Backtest replay speed: 1M events of history (BENCH_BACKTEST_EVENTS), writes var/bench/backtest.json
	@$(UV) run --frozen python bench/backtest.py

clean: ## Remove local state (SQLite files, logs, bench results)
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
