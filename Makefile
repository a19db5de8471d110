# CDA pipeline. Each stage is a file target: it reruns only when its inputs, its code or its
# section of cda.yaml changed. `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV   := .venv
CDA    := $(VENV)/bin/cda
SETUP  := $(VENV)/.installed
WS     ?= .
ROUND  ?= 1
DEMO_WS := build/demo

# workspace files ------------------------------------------------------------------------------
CFG        := $(WS)/.cda/config
MANIFEST   := $(WS)/data/recordings.csv
RAW        := $(wildcard $(WS)/data/raw/*)
IMPORTED   := $(WS)/data/private/import/segments.parquet
SEGMENTS   := $(WS)/data/interim/segments.parquet
TOKENS     := $(WS)/data/interim/tokens.parquet
TOPICS     := $(WS)/data/processed/round-$(ROUND)/topics.parquet
REPORT     := $(WS)/reports/round-$(ROUND)/index.html
CORE       := pipeline/schemas.py pipeline/io.py pipeline/config.py

.PHONY: help setup demo test test-slow lint import pseudonymise nlp topics report clean-demo

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'
	@echo "  Variables: WS=<workspace dir> (default .), ROUND=<coding round> (default 1)"

# set-up ---------------------------------------------------------------------------------------
$(SETUP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(SETUP) ## Create .venv and install the project (first run only)

# stage settings: one snapshot per stage, rewritten only when its section of cda.yaml changed
$(CFG)/.synced: $(WS)/cda.yaml | $(SETUP)
	$(CDA) config sync --workspace $(WS)
$(CFG)/%.json: $(CFG)/.synced ;

# stages ---------------------------------------------------------------------------------------
$(IMPORTED): $(MANIFEST) $(RAW) $(CFG)/import.json $(wildcard pipeline/importers/*.py) \
             pipeline/transcript.py pipeline/manifest.py $(CORE) | $(SETUP)
	$(CDA) import --workspace $(WS)

$(SEGMENTS): $(IMPORTED) $(wildcard $(WS)/data/private/names.csv) $(CFG)/pseudonymise.json \
             pipeline/pseudonymise.py $(CORE) | $(SETUP)
	$(CDA) pseudonymise --workspace $(WS)

$(TOKENS): $(SEGMENTS) $(CFG)/nlp.json pipeline/nlp.py $(CORE) | $(SETUP)
	$(CDA) nlp --workspace $(WS)

$(TOPICS): $(SEGMENTS) $(TOKENS) $(CFG)/topics.json pipeline/topics.py \
           pipeline/resources/stopwords_nl_spoken.txt $(CORE) | $(SETUP)
	$(CDA) topics --workspace $(WS) --round $(ROUND)

$(REPORT): $(SEGMENTS) $(TOKENS) $(TOPICS) $(CFG)/report.json pipeline/report.py \
           pipeline/templates/report.html.j2 $(CORE) | $(SETUP)
	$(CDA) report --workspace $(WS) --round $(ROUND)

import: $(IMPORTED) ## Import transcripts listed in data/recordings.csv
pseudonymise: $(SEGMENTS) ## Pseudonymise speakers and mask listed names
nlp: $(TOKENS) ## Sentences, tokens and lemmas with spaCy
topics: $(TOPICS) ## Candidate topics for open coding (round 1)
report: $(REPORT) ## HTML report for ROUND
	@echo "Report: $(abspath $(REPORT))"

# demo and checks ------------------------------------------------------------------------------
demo: | $(SETUP) ## Run the whole pipeline on the bundled sample (in build/demo)
	@$(CDA) init --workspace $(DEMO_WS) --sample > /dev/null
	@$(MAKE) --no-print-directory report WS=$(DEMO_WS)

test: | $(SETUP) ## Lint and run the test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

test-slow: | $(SETUP) ## Also run the slow suites
	$(VENV)/bin/pytest -m "slow or not slow"

lint: | $(SETUP) ## Lint and check formatting
	$(VENV)/bin/ruff check .

clean-demo: ## Remove the demo workspace
	rm -rf $(DEMO_WS)
