# akhbar: Arabic-first news ingestion. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
ES_PORT ?= 9200
ES_URL ?= http://127.0.0.1:$(ES_PORT)
export ES_PORT
# cargo builds transforms._native (native/); rustup installs it under ~/.cargo/bin.
export PATH := $(HOME)/.cargo/bin:$(PATH)
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock $(wildcard native/src/*.rs)

.DEFAULT_GOAL := help
.PHONY: help install es-up es-down es-logs run test test-unit lint clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/akhbar: setup.py pyproject.toml $(NATIVE_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/akhbar ## Create .venv/ with akhbar installed editable (with test extras; cargo builds native/)

es-up: ## Start Elasticsearch on 127.0.0.1:$ES_PORT (fetched from Maven Central; idempotent)
	scripts/es.sh up

es-down: ## Stop the Elasticsearch that es-up started (by pid; idempotent)
	scripts/es.sh down

es-logs: ## Follow the Elasticsearch log
	scripts/es.sh logs

run: install es-up ## Ingest the bundled sample into the local Elasticsearch, print the summary and a search
	$(BIN)/akhbar batch --input samples/seed.txt samples/feed.xml --index akhbar-sample --es-url $(ES_URL)
	@echo; echo "akhbar search بوتين --index akhbar-sample"
	$(BIN)/akhbar search بوتين --index akhbar-sample --es-url $(ES_URL) --size 3

test: install es-up runners ## Install, start Elasticsearch, build the Beam runners, run every test
	AKHBAR_ES_URL=$(ES_URL) $(BIN)/python -m pytest -q

test-unit: install ## Run the tests that need no server
	$(BIN)/python -m pytest -q -m "not integration"

lint: install ## ruff (lint and format) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean: ## Remove the venv and local state (var/), keeping nothing
	scripts/es.sh down || true
	rm -rf $(VENV) var

-include mk/*.mk
