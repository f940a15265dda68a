# The two commands of the README, and test-fast for the edit loop. All make .venv on first
# use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# W&B's sweep engine (`sweeps`), the tests' reference for sweeps: its metadata pins numpy<2,
# which would take every other package back to numpy 1; it runs on numpy 2, so it is installed
# without its dependencies (the dev extra lists the ones it imports). fastai goes in without its
# requirements too (torchvision, spaCy): pyproject.toml's dev extra says why.
SWEEPS_REFERENCE := sweeps==0.3.0

$(VENV)/.installed-dev: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps '$(SWEEPS_REFERENCE)' 'fastai==2.8.12'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[viewer,example,sweeps]'
	touch $@ $(VENV)/.installed

## make demo: train the example project (scikit-learn, PyTorch, a cross-validated sweep) into
## example_project/results, list the runs, and open the viewer on them
demo: $(VENV)/.installed-demo
	$(BIN)/python example_project/run_all.py
	$(BIN)/ledger ls --root example_project/results --project digits --columns name,group,job_type,status,summary.val/acc
	$(BIN)/ledger view example_project/results

## make test: lint, type-check and run the whole test suite. CI, from the environment (.ci/run
## exports CI=1) or `make test CI=1`, reaches pytest: tests/conftest.py then fails every skip.
test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest

## make test-fast: the edit loop; every test but the slow-marked ones, and no lint (make lint),
## so a formatting nit never hides a test result
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache  # example_project/results is committed data
