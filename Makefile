# Two entry points for humans and CI: `make demo` and `make test`.
# Each creates the virtual environment it needs (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## demo: train the default char-LM briefly (offline: Python stdlib source), export it, print a sample
demo: $(VENV)/.installed
	$(PY) train.py --task charlm --epochs 2 --steps-per-epoch 100 --validation-batches 20 --fresh
	$(PY) export.py --task charlm

## test: run the test suite
test: $(VENV)/.installed
	$(PY) -m pytest -q

bench-install: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"

## benchmarks (long; results in benchmarks/results/*.json, quoted in the README)
bench: bench-install
	$(PY) benchmarks/charlm_speed.py
	$(PY) benchmarks/charlm_quality.py --minutes 60
	$(PY) benchmarks/translate_quality.py
	$(PY) benchmarks/translate_quality.py --pairs-file ../shared/data/fra-eng/fra.txt --name fra_eng --minutes 10 --units 128
	$(PY) benchmarks/esn_mackey_glass.py --runs 20 --units 1000

.PHONY: install demo test bench-install bench
