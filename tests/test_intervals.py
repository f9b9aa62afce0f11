"""Intervals over findings and seeds for the claim checks (radgazegen.core.intervals)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from radgazegen.core.intervals import Evidence, frechet_distance, load_evidence, paired_difference, save_evidence


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
    from radgazegen.metrics import FID, paper_claims
    from radgazegen.standins import StudyEncoder

    rng = np.random.default_rng(0)
    real = rng.integers(0, 255, (20, 64, 64), dtype=np.uint8)
    gen = np.clip(real.astype(int) + rng.integers(-40, 40, real.shape), 0, 255).astype(np.uint8)
    fid = FID.study(StudyEncoder(3, width=8, size=64)).set_real(real)
    assert frechet_distance(fid.features(real), fid.features(gen)) == pytest.approx(fid(gen), rel=1e-6)


def test_a_claim_is_supported_only_when_its_intervals_exclude_zero():
    import pandas as pd

    from radgazegen.metrics import paper_claims
    from radgazegen.generation.methods import RAD_CN, RADGAZEGEN, SD

    rng = np.random.default_rng(3)
    claim = "Gaze guidance puts the finding where the gaze was (not in the paper: the cohort's test)"

    def run_with(p_radgazegen):
        hits = {RADGAZEGEN: p_radgazegen, SD: 0.3, RAD_CN: 0.3}
        cells = {(m, "hit rate"): Evidence("mean", "higher", values=(rng.random((3, 120)) < p).astype(float))
                 for m, p in hits.items()}
        cells[("chance", "hit rate")] = Evidence("mean", "higher", values=np.full((1, 120), 0.1))
        table = pd.DataFrame({"hit rate": {m: cells[(m, "hit rate")].value() for m in hits}, "chance": 0.1})
        return paper_claims.claims({"localisation": table}, {"localisation": cells}, n_boot=300).set_index("claim").loc[claim]

    clear = run_with(0.8)
    assert clear["holds"] and clear["supported"] and clear["intervals"].count("[") == 3
    close = run_with(0.33)  # may even hold on the means, but the intervals contain zero
    assert close["supported"] is False or not close["supported"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # class 6: predicted, never true
def test_label_statistics_are_scikit_learns():
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    from radgazegen.core.intervals import auc, macro_f1, mean_recall
    from radgazegen.metrics import long_tail_report

    rng = np.random.default_rng(5)
    truth = rng.integers(0, 2, 80)
    score = np.round(rng.random(80) + 0.4 * truth, 1)  # ties on purpose
    assert auc(truth, score) == pytest.approx(roc_auc_score(truth, score), abs=1e-12)
    assert np.isnan(auc(np.ones(10), rng.random(10)))
    classes = [f"c{i}" for i in range(7)]
    groups = {"Head": ["c0", "c1"], "Medium": ["c2", "c3", "c6"], "Tail": ["c4", "c5"]}
    y = rng.choice(6, 90, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])  # class 6 never occurs
    pred = np.where(rng.random(90) < 0.6, y, rng.integers(0, 7, 90))
    report = long_tail_report(y, pred, classes, groups)
    assert mean_recall(y, pred) == pytest.approx(balanced_accuracy_score(y, pred)) == pytest.approx(report["Avg"])
    for g, names in groups.items():
        assert mean_recall(y, pred, [classes.index(c) for c in names]) == pytest.approx(report[g])
    assert macro_f1(y, pred) == pytest.approx(f1_score(y, pred, labels=np.unique(y), average="macro", zero_division=0))


def test_label_evidence_intervals_and_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 2, 150).astype(float)
    good = truth[None] * 1.5 + rng.normal(0, 1, (3, 150))   # AUC ~0.85
    poor = truth[None] * 0.1 + rng.normal(0, 1, (3, 150))   # AUC ~0.53
    a = Evidence("labels", "higher", values=good, truth=truth, statistic="auc", scale=100.0)
    b = Evidence("labels", "higher", values=poor, truth=truth, statistic="auc", scale=100.0)
    d = paired_difference(a, b, n_boot=300)
    assert d.favours_a and 15 < d.difference < 45  # in AUC points (%)
    assert not paired_difference(a, a, n_boot=100).favours_a
    y = rng.integers(0, 4, 120)
    c = Evidence("labels", "higher", values=y[None].astype(float), truth=y, statistic="mean_recall", subset=np.array([0, 1]))
    save_evidence(tmp_path / "t.npz", {("A", "AUC"): a, ("C", "Head"): c})
    back = load_evidence(tmp_path / "t.npz")
    assert back[("A", "AUC")].value() == pytest.approx(a.value(), rel=1e-5) and back[("A", "AUC")].scale == 100.0
    assert back[("C", "Head")].value() == 1.0 and list(back[("C", "Head")].subset) == [0, 1]
    with pytest.raises(ValueError, match="statistic"):
        Evidence("labels", "higher", values=good, truth=truth, statistic="accuracy")


def test_table5_map_rule_counts_two_of_three_metrics_per_map():
    """'Adding a radiomics map to HVA-CN improves it': each map + HVA-CN row must beat HVA-CN
    alone on at least 2 of FID, SSIM, PSNR by intervals that exclude 0."""
    import pandas as pd

    from radgazegen.metrics import paper_claims
    from radgazegen.generation.methods import HVA_CN, RAD_CN, RADGAZEGEN, catalogue
    from radgazegen.core.vocabulary import HVA, RADIOMICS_CONTROLS

    rng = np.random.default_rng(7)
    known = catalogue()
    map_rows = [known.find(RADGAZEGEN, (c, HVA)).name for c in RADIOMICS_CONTROLS]
    real = rng.normal(size=(80, 4))
    claim = "Adding a radiomics map to HVA-CN improves it"

    def cells_for(map_ssim):
        cells, table = {}, {}
        for r in [RAD_CN, HVA_CN, RADGAZEGEN, *map_rows]:
            ssim = map_ssim if r in map_rows else 0.5
            cells[(r, "SSIM")] = Evidence("mean", "higher", values=rng.normal(ssim, 0.05, (2, 80)))
            cells[(r, "PSNR")] = Evidence("mean", "higher", values=rng.normal(20 + 5 * (ssim - 0.5), 0.5, (2, 80)))
            cells[(r, "FID")] = Evidence("fid", "lower", features=real[None] + rng.normal(0, 0.3, (2, 80, 4)), real=real)
            table[r] = {m: cells[(r, m)].value() for m in ("FID", "SSIM", "PSNR")}
        return {"table5": pd.DataFrame(table).T}, {"table5": cells}

    row = paper_claims.claims(*cells_for(0.7), n_boot=100).set_index("claim").loc[claim]
    assert row["supported"] == True  # noqa: E712 (numpy bool). SSIM and PSNR clearly better, FID a tie: 2 of 3 for every map
    row = paper_claims.claims(*cells_for(0.5), n_boot=100).set_index("claim").loc[claim]
    assert row["supported"] == False and len(row["comparisons"])  # noqa: E712 == 3 * len(map_rows)
