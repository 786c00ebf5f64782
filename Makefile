# gcfa-dgl: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATASET ?= ml100k
ARGS ?=

.PHONY: help install data train tune table1 ablation recbole sweep test test-fast lint bench bench-prep bench-sampler bench-train bench-evaluate bench-epoch bench-profile bench-best bench-parallel bench-report

help:
	@echo "make install          create $(VENV) and install gcfa-dgl with its dev extra (no-op when up to date)"
	@echo "make data [DATASET=ml100k] [ARGS='key=value ...']   prepare a dataset (no-op when up to date)"
	@echo "make train [ARGS='key=value ...']   GCFA on MovieLens-100K end to end: install, data, train, evaluate"
	@echo "make table1 [DATASET=ml100k] [SEEDS=0,1,2] [TUNED=1 [TUNED_ON=ml100k]]   GCFA, the baselines and popularity (TUNED=1: the tuned presets, of TUNED_ON's searches); tables and figures in reports/"
	@echo "make tune [DATASET=ml100k] [TUNE_MODELS=...]   each learned model's search on the same budget, winners saved to conf/tuned/ (run again: resumes)"
	@echo "make ablation [DATASET=ml100k] [SEEDS=0,1,2]   GCFA with one component changed per run; reports/ablation/"
	@echo "make recbole [SEEDS=0,1,2]   every model in RecBole-GNN's published ML-1M setting (published models with its tuned values)"
	@echo "make sweep            a 2 x 2 grid (lr x dim) on small synthetic data, two runs at a time, and its report"
	@echo "make test             the whole test suite, real-data tests included when GCFA_RAW_DIR is set"
	@echo "make test-fast        unit tests only (no 'slow' marker)"
	@echo "make lint             ruff"
	@echo "make bench            every benchmark (about 2 h on 2 cores): JSON in docs/bench/, docs/benchmarks.md"
	@echo "make bench-<name>     one of them: prep, sampler, train, best, evaluate, epoch, profile, parallel; bench-report rewrites the page"

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

SEEDS ?= 0,1,2
EXPERIMENT ?= table1
TABLE1 := multirun/table1/$(DATASET)
ABLATIONS := full,uniform,topk,weighted_agg,mean_agg,no_attention,no_opinion,no_info,no_social,layers0,layers1,layers3,dot_predictor

# Each model with the sampler of its paper: GraphRec samples uniformly, GC-MC convolves over full
# neighbourhoods (full-batch in its paper, hence a larger batch); the others use the default
# (importance sampling for GCFA; MF models and LightGCN only take the batch's pairs).
# make tune: each learned model's search (conf/hparams_search/, same budget for each) on DATASET's
# Table 1 protocol, its winner saved as conf/tuned/<dataset>_<model>.yaml; make table1 TUNED=1 then
# trains every learned model with its tuned preset.
TUNE_MODELS ?= bpr neumf lightgcn simgcl xsimgcl gcmc graphrec gcfa
comma := ,
space := $(subst ,, )
TUNE_EPOCHS ?= 100
# make table1 TUNED=1 TUNED_ON=ml100k: the winners of another dataset's searches (a transfer).
TUNED_ON ?= $(DATASET)
tune: install
	for m in $(TUNE_MODELS); do \
	  $(PY) -m gcfa_dgl.train hparams_search=$$m experiment=$(EXPERIMENT) dataset=$(DATASET) train.epochs=$(TUNE_EPOCHS) \
	    hydra.sweep.dir=multirun/tune/$(DATASET)/$$m $(ARGS) && \
	  $(PY) -m gcfa_dgl.tuned multirun/tune/$(DATASET)/$$m || exit 1; \
	done

ifdef TUNED
table1: install
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=pop hydra.sweep.dir=$(TABLE1)/pop $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=ease hydra.sweep.dir=$(TABLE1)/ease $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) train.epochs=$(TUNE_EPOCHS) seed=$(SEEDS) \
	  tuned=$(subst $(space),$(comma),$(addprefix $(TUNED_ON)_,$(TUNE_MODELS))) \
	  hydra.sweep.dir=$(TABLE1)/tuned $(ARGS)
	$(PY) -m gcfa_dgl.report $(TABLE1) --out reports/table1/$(DATASET)
else
table1: install
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=pop,bpr,neumf,lightgcn,simgcl,xsimgcl,gcfa seed=$(SEEDS) hydra.sweep.dir=$(TABLE1)/main $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=ease hydra.sweep.dir=$(TABLE1)/ease $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=graphrec sampler=uniform seed=$(SEEDS) hydra.sweep.dir=$(TABLE1)/graphrec $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=$(EXPERIMENT) dataset=$(DATASET) model=gcmc sampler=full sampler.batch_size=4096 seed=$(SEEDS) hydra.sweep.dir=$(TABLE1)/gcmc $(ARGS)
	$(PY) -m gcfa_dgl.report $(TABLE1) --out reports/table1/$(DATASET)
endif

ablation: install
	$(PY) -m gcfa_dgl.train -m experiment=ablation dataset=$(DATASET) ablation=$(ABLATIONS) seed=$(SEEDS) hydra.sweep.dir=multirun/ablation/$(DATASET) $(ARGS)
	$(PY) -m gcfa_dgl.report multirun/ablation/$(DATASET) --out reports/ablation/$(DATASET)

recbole: install
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m model=pop hydra.sweep.dir=multirun/recbole_ml1m/pop $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m model=ease hydra.sweep.dir=multirun/recbole_ml1m/ease $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m_bpr seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/bpr $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m_neumf seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/neumf $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m_lightgcn seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/lightgcn $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m_simgcl seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/simgcl $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m_xsimgcl seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/xsimgcl $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m model=gcmc sampler=full seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/gcmc $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m model=graphrec sampler=uniform seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/graphrec $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m tuned=ml100k_graphrec seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/graphrec_tuned $(ARGS)
	# GCFA twice: the paper's reading, and the winner of its ML-100K search (conf/tuned/ml100k_gcfa.yaml)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m model=gcfa seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/gcfa $(ARGS)
	$(PY) -m gcfa_dgl.train -m experiment=recbole_ml1m tuned=ml100k_gcfa seed=$(SEEDS) hydra.sweep.dir=multirun/recbole_ml1m/gcfa_tuned $(ARGS)
	$(PY) -m gcfa_dgl.report multirun/recbole_ml1m --metrics full/recall@10 full/ndcg@10 full/mrr@10 full/hr@10 full/recall@20 full/ndcg@20 --out reports/recbole_ml1m

sweep: install
	$(PY) -m gcfa_dgl.train -m experiment=tiny_synthetic model.lr=1e-3,5e-3 model.dim=16,32 hydra/launcher=joblib hydra.launcher.n_jobs=2 hydra.sweep.dir=multirun/sweep_example $(ARGS)
	$(PY) -m gcfa_dgl.report multirun/sweep_example --split valid --out reports/sweep_example

# One pytest worker per core; a file's tests stay on one worker (its module fixtures are built once).
test: install
	$(PY) -m pytest -n auto --dist loadfile --durations=15 $(ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

# Preparation first: it prepares the datasets the other benchmarks read. Then the page.
BENCH := docs/bench
bench: bench-prep bench-sampler bench-train bench-best bench-evaluate bench-epoch bench-profile bench-parallel
	$(MAKE) bench-report

# Default settings up to 5M synthetic interactions (the exact-similarity regime is superlinear, see
# docs/benchmarks.md); with the similarity cap at 100 up to 20M. Epochs use the capped data.
SMALL_CAP := dataset.tightness.max_degree=100

bench-prep: install
	$(PY) -m gcfa_dgl.bench.prep --json $(BENCH)/prep.json --interactions 1000000 5000000 $(ARGS)
	$(PY) -m gcfa_dgl.bench.prep --json $(BENCH)/prep_capped.json --datasets --interactions 1000000 5000000 20000000 --synthetic-overrides $(SMALL_CAP) $(ARGS)

bench-sampler: install
	$(PY) -m gcfa_dgl.bench.sampler --json $(BENCH)/sampler.json $(ARGS)

bench-train: install
	$(PY) -m gcfa_dgl.bench.train --json $(BENCH)/train.json $(ARGS)

bench-evaluate: install
	$(PY) -m gcfa_dgl.bench.evaluate --json $(BENCH)/evaluate.json $(ARGS)

bench-epoch: install
	$(PY) -m gcfa_dgl.bench.epoch --json $(BENCH)/epoch.json --synthetic-overrides $(SMALL_CAP) $(ARGS)
	$(PY) -m gcfa_dgl.bench.epoch --batches-per-epoch 240 --max-batches 10 --json $(BENCH)/epoch_grown.json --synthetic-overrides $(SMALL_CAP) $(ARGS)
	$(PY) -m gcfa_dgl.bench.epoch --overrides sampler.scope=blocks --json $(BENCH)/epoch_blocks.json --synthetic-overrides $(SMALL_CAP) $(ARGS)
	$(PY) -m gcfa_dgl.bench.epoch --overrides sampler.scope=graph --json $(BENCH)/epoch_graph.json --synthetic-overrides $(SMALL_CAP) $(ARGS)
	$(PY) -m gcfa_dgl.bench.epoch --json $(BENCH)/epoch_degree.json --synthetic-overrides $(SMALL_CAP) dataset.node_order=degree $(ARGS)

bench-profile: install
	$(PY) -m gcfa_dgl.bench.profile --json $(BENCH)/profile.json $(ARGS)

bench-best: install
	$(PY) -m gcfa_dgl.bench.train --suite best --json $(BENCH)/best.json $(ARGS)

bench-parallel: install
	$(PY) -m gcfa_dgl.bench.train --suite parallel --max-batches 30 --json $(BENCH)/parallel.json $(ARGS)

bench-report: install
	$(PY) -m gcfa_dgl.bench.report --bench $(BENCH)
