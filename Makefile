# The study's two commands (README):  make study   and   make test
# Both set up the environment first (a virtualenv in .venv, from the project's own files).
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PROFILE ?= smoke
PY := $(VENV)/bin/python

.PHONY: study test check book publish screenshots course bench setup clean-runs wheelhouse offline-install study-offline gpu-teach teach-cpu gpu-teach-rehearsal teach-import lesson-import smoke-import

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

## The published edition onto the gh-pages branch (ghp-import, as Jupyter Book documents it);
## PUSH=1 also pushes it to the remote `origin`. .github/workflows/book.yml does the same on GitHub.
PUSH ?=
publish: book
	$(VENV)/bin/ghp-import -n -f -m "book from $$(git rev-parse --short HEAD)" $(if $(filter 1 yes true,$(PUSH)),-p) _build/html

## Every page of the built book through headless Chromium (Debian's chromium package), into
## _build/screenshots/: what a reader's browser shows.
screenshots: book
	$(PY) -m radgazegen screenshots

## The course's student edition: the chapters' exercises stubbed, each followed by its check
## (radgazegen/study/course.py), in _build/course/ and _build/radgazegen-course.zip.
course: setup
	$(PY) -m radgazegen course --profile $(PROFILE)

## The published edition, in seconds, running nothing: per chapter the richest executed profile
## committed under book/<profile>/ (full, teach, lesson, smoke; a complete committed run before an incomplete
## one: radgazegen.study.publish.published_order), else this machine's current smoke run.
book: setup
	$(PY) -m radgazegen book --published

## The tests: everything, the smoke run of every notebook, the book build and a second smoke run
## interrupted three times included (CI runs this). Three pytest-xdist workers: the two smoke runs
## (test groups `smoke`, `smoke-again`) go on side by side while the third runs the other tests
## (tests/conftest.py). TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= 3
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

## The fast tier: unit tests only (no notebook run, no book build, no install, no multi-process
## training): tests marked `slow` are left out. Two workers.
check: setup
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

## Printed figures: cohort generation throughput and the smoke main job's wall time.
bench: setup
	$(PY) -m radgazegen bench

clean-runs:
	rm -rf runs/$(PROFILE) _build book/chapters

## Offline install on an air-gapped GPU server that already has a CUDA PyTorch stack (README,
## "Offline install (air-gapped GPU server)"). Here, with network: the wheels the server lacks.
WHEELHOUSE ?= wheelhouse
WHEEL_PYTHON ?= 3.12
WHEEL_PLATFORM ?= manylinux_2_28_x86_64
# the server's packages (never shipped; known versions pinned): one name a line
PREINSTALLED ?= constraints/offline.txt
# a Python of WHEEL_PYTHON's version to resolve with (found on PATH or in pyenv when empty)
WHEEL_RESOLVER ?=
WHEELHOUSE_MAX_MB ?= 40
# 1: ship torchxrayvision and pydicom-data without the data files the study never reads (as
# version X+slim; radgazegen/study/offline.py's SLIM says which and why); 0: whole (90 MB)
WHEEL_SLIM ?= 1
wheelhouse:
	$(PYTHON) -m radgazegen.study.offline wheelhouse --dest $(WHEELHOUSE) --python-version $(WHEEL_PYTHON) \
	  --platform $(WHEEL_PLATFORM) --preinstalled $(PREINSTALLED) --pins $(CONSTRAINTS) \
	  --max-mb $(WHEELHOUSE_MAX_MB) $(if $(WHEEL_RESOLVER),--resolver $(WHEEL_RESOLVER)) \
	  $(if $(filter 1 yes true,$(WHEEL_SLIM)),,--no-slim)

## There, without network: install into OFFLINE_PYTHON's own environment (no venv; nothing the
## server has is upgraded or replaced), then run a profile (teach unless PROFILE is given).
OFFLINE_PYTHON ?= python3
OFFLINE_PIP_ARGS ?=
OFFLINE_PROFILE ?= $(if $(filter file,$(origin PROFILE)),teach,$(PROFILE))
offline-install:
	$(OFFLINE_PYTHON) -m radgazegen.study.offline install --wheelhouse $(WHEELHOUSE) $(foreach a,$(OFFLINE_PIP_ARGS),--pip-arg=$(a))

study-offline: offline-install
	$(OFFLINE_PYTHON) -m radgazegen run --profile $(OFFLINE_PROFILE)

## On a lent GPU machine (one command, re-runnable on the same machine to go on where its
## deadline stopped it): offline install (once per machine), the teach profile until
## GPU_DEADLINE_S seconds after the command started (install included, packing time kept back),
## then the executed chapters, the runner's progress.log, the chapters' progress logs and the
## machine's description packed into GPU_OUT (radgazegen/study/gpu_run.py). Give the device call a
## time limit above GPU_DEADLINE_S. Here, `make teach-import GPU_OUT=...` puts them in book/teach/.
GPU_OUT ?= gpu-out
GPU_DEADLINE_S ?= 540
TEACH_BUNDLE ?=
GPU_OVERRIDES ?=
gpu-teach:
	$(OFFLINE_PYTHON) -m radgazegen.study.gpu_run --out $(GPU_OUT) --deadline-s $(GPU_DEADLINE_S) --wheelhouse=$(WHEELHOUSE) \
	  $(if $(TEACH_BUNDLE),--bundle $(TEACH_BUNDLE)) $(if $(GPU_REHEARSE),--rehearse $(GPU_REHEARSE)) $(foreach o,$(GPU_OVERRIDES),-p $(o))

## Here: the CPU rehearsal of the GPU command (the same bundle, runner and packing; chapters 04 on at
## the smoke profile's sizes, no install), before a lease is spent on it.
gpu-teach-rehearsal: setup
	$(MAKE) gpu-teach OFFLINE_PYTHON=$(PY) WHEELHOUSE= GPU_REHEARSE=smoke GPU_OUT=gpu-out/rehearsal GPU_DEADLINE_S=3600 \
	  TEACH_BUNDLE=$(TEACH_CPU_BUNDLE)

## Here, before a GPU lease: teach's chapters that need no GPU (00-03) on this machine's CPUs, and
## their run directory packed into TEACH_CPU_BUNDLE; carry that file to the GPU machine and run
## `make gpu-teach TEACH_BUNDLE=<it>` there: the runner finds 00-03 up to date and starts at 04.
TEACH_CPU_BUNDLE ?= gpu-in/teach-cpu.tgz
teach-cpu: setup
	$(PY) -m radgazegen run --profile teach --only 03_hypotheses
	$(PY) -m radgazegen.study.gpu_run --pack-run --profile teach --out $(TEACH_CPU_BUNDLE)

## A finished lesson run (LESSON_RUN, default runs/lesson) into book/lesson/: its executed chapters,
## progress.log, the trained models' benchmark lines and its claims ledger (claims.json: each claim's
## verdict, computed from the run's results/ as chapter 14 computes it), for the published edition.
LESSON_RUN ?= runs/lesson
lesson-import:
	mkdir -p book/lesson
	rm -f book/lesson/[0-9][0-9]_*.ipynb book/lesson/claims.json
	for f in $(LESSON_RUN)/notebooks/[0-9][0-9]_*.ipynb; do case $$f in *.running.ipynb|*.failed.ipynb) ;; *) cp $$f book/lesson/ ;; esac; done
	cp $(LESSON_RUN)/progress.log book/lesson/
	cat $(LESSON_RUN)/logs/*.log | tr '\r' '\n' | grep '^benchmark ' | grep -v 'no steps run' > book/lesson/benchmarks.txt || true
	$(PY) -m radgazegen ledger --profile lesson --run $(LESSON_RUN)

## The smoke chapters of a finished smoke run (SMOKE_RUN, default runs/smoke) that no richer profile
## has committed (book/teach/, book/lesson/: today the tables 08-12) into book/smoke/, with the run's
## progress.log and its claims ledger (claims.json, from the run's results/): the published edition then
## has every chapter, built from committed files only, and chapter 14 every claim the smoke run checked.
SMOKE_RUN ?= runs/smoke
smoke-import:
	mkdir -p book/smoke
	rm -f book/smoke/[0-9][0-9]_*.ipynb
	for f in $(SMOKE_RUN)/notebooks/[0-9][0-9]_*.ipynb; do n=$$(basename $$f); case $$n in *.running.ipynb|*.failed.ipynb) continue;; esac; \
	  [ -e book/teach/$$n ] || [ -e book/lesson/$$n ] || cp $$f book/smoke/; done
	cp $(SMOKE_RUN)/progress.log book/smoke/
	$(PY) -m radgazegen ledger --profile smoke --run $(SMOKE_RUN)

teach-import:
	mkdir -p book/teach
	rm -f book/teach/[0-9][0-9]_*.ipynb  # one run's chapters: the archive holds every chapter of the run
	tar xzf $(GPU_OUT)/teach-chapters.tgz -C book/teach --strip-components=1 --wildcards 'notebooks/[0-9][0-9]_*.ipynb' \
	  --exclude '*.failed.ipynb' --exclude '*.running.ipynb'
	tar xzf $(GPU_OUT)/teach-chapters.tgz -C book/teach progress.log
	tar xzf $(GPU_OUT)/teach-chapters.tgz -O --wildcards 'logs/*.log' | tr '\r' '\n' | grep '^benchmark ' \
	  | grep -v 'no steps run' > book/teach/benchmarks.txt || true
	cp $(GPU_OUT)/device.txt book/teach/ 2>/dev/null || true
	cp $(GPU_OUT)/bench.txt book/teach/ 2>/dev/null || true
	rm -f book/teach/*.running.ipynb book/teach/*.failed.ipynb
	$(PY) -m radgazegen ledger --profile teach --notebook book/teach/14_results.ipynb  # the packed run has no results/
