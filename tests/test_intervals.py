"""Intervals over findings and seeds for the claim checks (radgazegen.intervals)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from radgazegen.intervals import Evidence, frechet_distance, load_evidence, paired_difference, save_evidence


def fid_by_sqrtm(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("n, d", [(40, 8), (12, 30)])  # more findings than features, and fewer (singular covariances)
def test_frechet_distance_is_fids_formula(n, d):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, d)), rng.normal(0.5, 1.3, size=(n, d))
    assert frechet_distance(a, b) == pytest.approx(fid_by_sqrtm(a, b), rel=1e-4, abs=1e-3)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_a_real_difference_excludes_zero_and_no_difference_does_not():
    rng = np.random.default_rng(1)
    hits_a = (rng.random((3, 150)) < 0.7).astype(float)
    hits_b = (rng.random((3, 150)) < 0.3).astype(float)
    hits_c = (rng.random((3, 150)) < 0.7).astype(float)
    better = paired_difference(Evidence("mean", "higher", values=hits_a), Evidence("mean", "higher", values=hits_b), n_boot=400)
    assert better.favours_a and not better.favours_b and better.low > 0.25
    same = paired_difference(Evidence("mean", "higher", values=hits_a), Evidence("mean", "higher", values=hits_c), n_boot=400)
    assert same.low < 0 < same.high and not same.favours_a and not same.favours_b


def test_fid_cells_compare_on_the_same_resampled_findings():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(60, 6))
    close = Evidence("fid", "lower", features=real[None] + rng.normal(0, 0.2, (2, 60, 6)), real=real)
    far = Evidence("fid", "lower", features=real[None] + rng.normal(1.0, 1.0, (2, 60, 6)), real=real)
    d = paired_difference(close, far, n_boot=200)
    assert d.difference < 0 and d.favours_a and d.text().startswith("-")


def test_evidence_round_trips_and_bad_shapes_are_named(tmp_path):
    cells = {("RadGazeGen", "hit rate"): Evidence("mean", "higher", values=np.ones((2, 5))),
             ("SD", "FID"): Evidence("fid", "lower", features=np.zeros((1, 5, 3)), real=np.ones((5, 3)))}
    back = load_evidence(save_evidence(tmp_path / "t.evidence.npz", cells))
    assert list(back) == list(cells) and back[("SD", "FID")].real.shape == (5, 3)
    with pytest.raises(ValueError, match="real features must be"):
        Evidence("fid", "lower", features=np.zeros((1, 5, 3)), real=np.ones((4, 3)))
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_evidence(tmp_path / "missing.npz")


def test_fid_features_recompute_torchmetrics_fid():
    from radgazegen.metrics import FID
    from radgazegen.standins import StudyEncoder

    rng = np.random.default_rng(0)
    real = rng.integers(0, 255, (20, 64, 64), dtype=np.uint8)
    gen = np.clip(real.astype(int) + rng.integers(-40, 40, real.shape), 0, 255).astype(np.uint8)
    fid = FID.study(StudyEncoder(3, width=8, size=64)).set_real(real)
    assert frechet_distance(fid.features(real), fid.features(gen)) == pytest.approx(fid(gen), rel=1e-6)


def test_a_claim_is_supported_only_when_its_intervals_exclude_zero():
    import pandas as pd

    from radgazegen import evaluation
    from radgazegen.methods import RAD_CN, RADGAZEGEN, SD

    rng = np.random.default_rng(3)
    claim = "Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)"

    def run_with(p_radgazegen):
        hits = {RADGAZEGEN: p_radgazegen, SD: 0.3, RAD_CN: 0.3}
        cells = {(m, "hit rate"): Evidence("mean", "higher", values=(rng.random((3, 120)) < p).astype(float))
                 for m, p in hits.items()}
        cells[("chance", "hit rate")] = Evidence("mean", "higher", values=np.full((1, 120), 0.1))
        table = pd.DataFrame({"hit rate": {m: cells[(m, "hit rate")].value() for m in hits}, "chance": 0.1})
        return evaluation.claims({"localisation": table}, {"localisation": cells}, n_boot=300).set_index("claim").loc[claim]

    clear = run_with(0.8)
    assert clear["holds"] and clear["supported"] and clear["intervals"].count("[") == 3
    close = run_with(0.33)  # may even hold on the means, but the intervals contain zero
    assert close["supported"] is False or not close["supported"]
