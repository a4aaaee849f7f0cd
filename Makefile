# Two set-up commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
## The suite on two workers (pytest-xdist): the local servers' tests share one of them.
PARALLEL := -n 2 --dist loadgroup
BENCHSTAMP := $(VENV)/.installed-bench

.PHONY: run test test-stress browser bench oracle screenshots gcp-local lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable installs put the project on the path with a plain .pth line ("compat" mode):
# setuptools' default installs an import hook that every start pays for (9 ms of the
# first frame). Where a setuptools no longer offers compat mode, the default is used.
EDITABLE := --config-settings editable_mode=compat

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . $(EDITABLE) 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(EDITABLE) 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

$(BENCHSTAMP): pyproject.toml $(DEVSTAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]' $(EDITABLE) 2>/dev/null \
	  || $(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

## Open the TUI on the embedded demo (no cloud credentials needed).
run: $(STAMP)
	$(BIN)/orchwatch --demo

## The browser test of `orchwatch serve` drives Debian's chromium through chromium-driver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium chromium-driver >/dev/null) \
	  || { echo "make: the browser test needs chromium and chromium-driver: run" \
	       "apt-get install chromium chromium-driver as root"; exit 1; }

## Install what the tests need and run the whole suite (lint and types first: they are fast).
test: $(DEVSTAMP) browser
	$(BIN)/ruff check orchwatch tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PARALLEL)

## The suite with every core kept busy by spinning processes: timing must not matter.
## `make test-stress RUNS=10` repeats it and stops at the first failure.
RUNS ?= 1
test-stress: $(DEVSTAMP) browser
	for i in $$(seq $(RUNS)); do echo "== loaded run $$i of $(RUNS)"; \
	  $(BIN)/python tests/busy.py -- $(BIN)/python -m pytest -q -p no:cacheprovider $(PARALLEL) || exit 1; done

## orchwatch on its Google Cloud sources, against local servers seeded with the demo:
## the Firestore and BigQuery emulators and the Cloud Run / Logging gRPC server of tests/.
gcp-local: $(DEVSTAMP)
	$(BIN)/python -m tests.loopback

## Print the speed figures the issues ask for.
bench: $(BENCHSTAMP)
	$(BIN)/python -m bench

## Deploy every package of the corpus (../shared/corpus/) for real, short of Google Cloud,
## and write the verdicts `make bench` judges the validator by (bench/data/corpus-oracle.json).
oracle: $(BENCHSTAMP)
	command -v rsync >/dev/null || (apt-get update -qq && apt-get install -y -qq rsync)
	$(BIN)/python -m bench.oracle

## Regenerate the SVG screenshots in screenshots/.
screenshots: $(DEVSTAMP)
	$(BIN)/python -m bench.screenshots

lint: $(DEVSTAMP)
	$(BIN)/ruff format --check orchwatch tests bench
	$(BIN)/ruff check orchwatch tests bench

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
