.PHONY: help install test test-unit test-quick lint format

help:  ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install:  ## Create .venv and install aladia with the dev extra
	python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'

test:  ## Run the whole test suite (same as CI)
	scripts/test

test-unit:  ## The unit tests only: no service, no stack (the fast loop)
	scripts/test --unit

test-quick:  ## Unit and integration tests, without the slow end-to-end runs
	scripts/test -m "not e2e"

lint:  ## ruff check and format check
	.venv/bin/ruff check aladia_etl tests && .venv/bin/ruff format --check aladia_etl tests

format:  ## ruff format
	.venv/bin/ruff format aladia_etl tests && .venv/bin/ruff check --fix aladia_etl tests
