# Two commands do everything on a fresh machine:
#   make all    set up the environments, then run the whole workflow (snakemake all)
#   make test   set up the environments, then run the test suite
# Re-running skips what is already installed (stamp files inside each venv).

SHELL := /bin/bash
CORES ?= 2
VENV ?= .venv
LAVA_VENV ?= .venv-lava
PYTEST_ARGS ?=
SNAKEMAKE_ARGS ?=
PYTHON311 ?= $(shell workflow/scripts/find_python.sh 3.11 2>/dev/null)
PYTHON310 ?= $(shell workflow/scripts/find_python.sh 3.10 2>/dev/null)

MAIN_STAMP := $(VENV)/.beamnet-installed
LAVA_STAMP := $(LAVA_VENV)/.beamnet-installed

.PHONY: all test setup setup-main setup-lava dry-run lint format benchmark benchmark-scale readme record-tuning record-confirmation clean-results

all: setup
	$(VENV)/bin/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS) all

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

setup: setup-main setup-lava
setup-main: $(MAIN_STAMP)
setup-lava: $(LAVA_STAMP)

$(MAIN_STAMP): requirements/main.txt pyproject.toml
	@test -n "$(PYTHON311)" || { workflow/scripts/find_python.sh 3.11; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VENV)/bin/python -m pip install --quiet -r requirements/main.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . \
	  || $(VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(VENV)/bin/python -m ipykernel install --sys-prefix --name beamnet --display-name "BEAM-Net (Python 3.11)" >/dev/null
	touch $@

$(LAVA_STAMP): requirements/lava.txt
	@test -n "$(PYTHON310)" || { workflow/scripts/find_python.sh 3.10; exit 1; }
	test -x $(LAVA_VENV)/bin/python || $(PYTHON310) -m venv $(LAVA_VENV)
	$(LAVA_VENV)/bin/python -m pip install --quiet -r requirements/lava.txt
	touch $@

dry-run: setup-main
	$(VENV)/bin/snakemake -n all

# Lint and format checks (configuration in pyproject.toml and .pre-commit-config.yaml);
# `make format` applies the fixes the formatters can make.
NOTEBOOKS := $(wildcard notebooks/*.ipynb)
lint: setup-main
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check .
	$(VENV)/bin/nbstripout --keep-id --verify $(NOTEBOOKS)
	$(VENV)/bin/snakemake --lint

format: setup-main
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/snakefmt .
	$(VENV)/bin/nbstripout --keep-id $(NOTEBOOKS)

benchmark: setup-main
	$(VENV)/bin/python benchmarks/training_throughput.py
	$(VENV)/bin/python benchmarks/dag_scale.py

# Peak memory and wall time per rule on generated N-MNIST roots of 1,000 to 70,000 recordings
# (about 25 minutes and 10 GB of scratch space on 2 cores)
benchmark-scale: setup-main
	$(VENV)/bin/python benchmarks/scale.py --sizes 1000 10000 20000 70000

# README.md's measured tables, regenerated from results/ and benchmarks/out/ (beamnet.readme)
readme: setup-main
	$(VENV)/bin/python -m beamnet readme

# after a build with tuning.enabled: true, keep its cross-validation record in workflow/records/
# (the README shows it in builds of the final runs alone), then regenerate the README
record-tuning: setup-main
	$(VENV)/bin/python -m beamnet readme --record-tuning

# after `snakemake tune --config "tuning={grid: GRID}"` for a confirmation grid, keep its record
# as workflow/records/GRID.md (the README shows confirm_last_epoch's), then regenerate the README
GRID ?= confirm_last_epoch
record-confirmation: setup-main
	$(VENV)/bin/python -m beamnet readme --record-confirmation $(GRID)

clean-results:
	rm -rf results logs benchmarks/out .snakemake/metadata
