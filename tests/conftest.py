"""Fixtures shared by the test modules: one small synthetic cohort per test session, and one
smoke run per test session however many workers run the tests.

The readers, the hostile-input cases and the cohort's layout tests all read the same cohort
(built once, about 10 s on 2 cores); a test that damages files copies it first.

``make test`` runs the tests on three pytest-xdist workers (``-n 3 --dist loadgroup``): the
smoke run's tests (tests/test_smoke.py) on one, the interrupted second smoke run
(tests/test_smoke_again.py) on another, both from the start, and the other tests wherever a
worker is free. ``smoke_study`` is built once for the whole session: the worker that asks
first runs it, another that asks waits for it (a file lock in the folder the workers share).

The scheduler is this file's (``pytest_xdist_make_scheduler``): a module whose tests share a
module-scoped fixture (``SHARED_FIXTURE_MODULES``) goes to one worker whole, every other test
alone, in collection order, with the two smoke modules collected first. (pytest-xdist's own
``xdist_group`` marks group nothing under pytest 9.2: xdist 3.8 renames ``item._nodeid``, which
pytest 9 no longer reads.)"""
from __future__ import annotations

import os

# OpenMP threads that sleep when idle, in every worker and what it starts, before torch loads:
# spinning ones (libgomp's default) took the two cores from the smoke runs' kernels beside them
# (the runner sets the same for its kernels; a value set in the environment wins)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# and, on pytest-xdist's workers, one thread each: the workers and the smoke runs' kernels share
# the cores, and oversubscribed parallel regions wait on descheduled threads
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import fcntl  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import pytest  # noqa: E402

from radgazegen.synthetic import CohortConfig, generate_cohort  # noqa: E402

#: Test modules whose tests share a module-scoped fixture: each runs on one worker, whole
#: (tests/test_architecture.py checks the list against the modules' fixtures).
SHARED_FIXTURE_MODULES = ("test_smoke.py", "test_smoke_again.py", "test_cohort_conventions.py",
                          "test_control_gain.py", "test_models_training.py", "test_multiprocess.py",
                          "test_training_cache.py")
#: Collected first, so that the two smoke runs start at once, side by side.
FIRST = ("test_smoke.py", "test_smoke_again.py")


def pytest_collection_modifyitems(config, items):
    """The smoke modules first (a stable sort: the rest keeps its order)."""
    items.sort(key=lambda item: FIRST.index(item.path.name) if item.path.name in FIRST else len(FIRST))


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadgroup``: a module of ``SHARED_FIXTURE_MODULES`` is one unit of work,
    every other test its own; units are handed out in collection order."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if Path(path).name in SHARED_FIXTURE_MODULES else nodeid

    config.option.loadscopereorder = False  # collection order: the smoke modules first
    return ModuleFixtureScheduling(config, log)

#: The small cohort's configuration: 60 MIMIC images at 256 px, 4 CheXpert test patients.
SMALL = dict(n_mimic=60, n_chexpert=4, image_size=(256, 256), reflacx_multi_reader_images=4, egd_reflacx_overlap=2)
SMALL_COHORT = CohortConfig(seed=3, **SMALL)


@pytest.fixture(scope="session")
def small_cohort(shared_tmp) -> Path:
    """The root of ``SMALL_COHORT``, generated once per session (whichever worker asks first).
    Read-only: copy it to damage it."""
    root = shared_tmp / "small-cohort"
    build_once(shared_tmp, "small-cohort", lambda: generate_cohort(root, SMALL_COHORT, progress=False))
    return root


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory) -> Path:
    """A folder every worker of this test session shares: the session's base folder, or with
    pytest-xdist the folder above the workers' own (``pytest-N/`` over ``popen-gw0/``)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(shared: Path, name: str, build: Callable[[], None]) -> None:
    """Run ``build`` once per test session, whichever worker asks first; a worker that asks
    while another builds waits for it. A build that failed is not retried: the waiting worker
    fails with its error."""
    done, failed = shared / f"{name}.done", shared / f"{name}.failed"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also when a worker dies
        if failed.exists():
            raise RuntimeError(f"{name} failed on another worker: {failed.read_text()}")
        if not done.exists():
            try:
                build()
            except BaseException as exc:
                failed.write_text(f"{type(exc).__name__}: {exc}"[:2000])
                raise
            done.write_text("done\n")


@pytest.fixture(scope="session")
def smoke_study(shared_tmp) -> "Study":
    """The README's main job, the smoke profile end to end, in a run folder of this test session
    (from scratch, never the checkout's ``runs/``): built once per session."""
    from radgazegen.study.runner import Study

    study = Study(runs=shared_tmp / "smoke-runs")
    build_once(shared_tmp, "smoke-run", lambda: study.run("smoke", log=print))
    return study
