# The study's two commands (README):  make study   and   make test
# Both set up the environment first (a virtualenv in .venv, from the project's own files).
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PROFILE ?= smoke
PY := $(VENV)/bin/python

.PHONY: study test book bench setup clean-runs

setup: $(VENV)/.installed $(VENV)/.startup-hook

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (radgazegen)"
	touch $@

# The interpreter start-up hook that makes torchvision importable on the CPU build of torch
# in any fresh interpreter of the environment (radgazegen/_startup.py); re-installed when it changes.
$(VENV)/.startup-hook: radgazegen/_startup.py $(VENV)/.installed
	$(PY) -m radgazegen._startup --install-hook
	touch $@

## The main job: the smoke profile end to end (all notebooks with papermill), then the book.
study: setup
	$(PY) -m radgazegen run --profile $(PROFILE)
	$(PY) -m radgazegen book --profile $(PROFILE)

## The tests (unit tests, then the smoke run of the notebooks and the book build).
test: setup
	$(PY) -m pytest

## Printed figures: cohort generation throughput and the smoke main job's wall time.
bench: setup
	$(PY) -m radgazegen bench

clean-runs:
	rm -rf runs/$(PROFILE) _build book/chapters
