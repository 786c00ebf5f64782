# gcfa-dgl: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATASET ?= ml100k
ARGS ?=

.PHONY: help install data train test test-fast lint bench bench-sampler bench-prep

help:
	@echo "make install          create $(VENV) and install gcfa-dgl with its dev extra (no-op when up to date)"
	@echo "make data [DATASET=ml100k] [ARGS='key=value ...']   prepare a dataset (no-op when up to date)"
	@echo "make train [ARGS='key=value ...']   GCFA on MovieLens-100K end to end: install, data, train, evaluate"
	@echo "make test             the whole test suite, real-data tests included when GCFA_RAW_DIR is set"
	@echo "make test-fast        unit tests only (no 'slow' marker)"
	@echo "make lint             ruff"
	@echo "make bench            benchmarks (sampler, preparation); figures go into docs/"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

data: install
	$(PY) -m data_prep dataset=$(DATASET) $(ARGS)

train: install
	$(PY) -m gcfa_dgl.train experiment=quick_ml100k $(ARGS)

test: install
	$(PY) -m pytest $(ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: bench-sampler bench-prep

bench-sampler: install
	$(PY) -m gcfa_dgl.bench.sampler

bench-prep: install
	$(PY) -m gcfa_dgl.bench.prep --interactions 1000000 10000000
