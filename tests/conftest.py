"""Fixtures shared by the test modules: one small synthetic cohort per test session.

The readers, the hostile-input cases and the cohort's layout tests all read the same cohort
(built once, about 10 s on 2 cores); a test that damages files copies it first."""
from __future__ import annotations

from pathlib import Path

import pytest

from radgazegen.synthetic import CohortConfig, generate_cohort

#: The small cohort's configuration: 60 MIMIC images at 256 px, 4 CheXpert test patients.
SMALL = dict(n_mimic=60, n_chexpert=4, image_size=(256, 256), reflacx_multi_reader_images=4, egd_reflacx_overlap=2)
SMALL_COHORT = CohortConfig(seed=3, **SMALL)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> Path:
    """The root of ``SMALL_COHORT``, generated once per session. Read-only: copy it to damage it."""
    root = tmp_path_factory.mktemp("small-cohort")
    generate_cohort(root, SMALL_COHORT, progress=False)
    return root
