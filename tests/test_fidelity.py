"""Fidelity beyond FID (radgazegen.metrics.fidelity): each metric against a case computed by hand or by
its library's own function."""
from __future__ import annotations

import math

import numpy as np
import pytest

from radgazegen.metrics import fidelity, radiomics_distance
from radgazegen.core.intervals import (Evidence, frechet_distance, kernel_distance, load_evidence, paired_difference,
                                  save_evidence)


def unbiased_mmd2_by_hand(x, y):
    """Bińkowski et al.'s unbiased squared MMD with k(a, b) = (a . b / D + 1)^3, by loops."""
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m ** 2
    return xx + yy - 2 * xy


def test_kid_is_the_unbiased_mmd_by_hand_and_reads_the_right_way():
    rng = np.random.default_rng(0)
    real, same, shifted = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)), rng.normal(1.0, 1.0, size=(30, 4))
    score = fidelity.kid(real, shifted, "toy features")
    assert score.value == pytest.approx(unbiased_mmd2_by_hand(real, shifted), rel=1e-9)
    assert score.label == "KID (toy features)" and "torchmetrics" in score.library
    assert fidelity.kid(real, real, "toy").value == pytest.approx(unbiased_mmd2_by_hand(real, real), rel=1e-9)
    near = fidelity.kid(real, same, "toy").value
    assert abs(near) < 0.05 * score.value  # two samples of one distribution: about 0
    # the intervals' KID cell is the same number
    assert Evidence("kid", "lower", features=shifted[None], real=real).value() == pytest.approx(score.value, rel=1e-9)


def test_kid_resamples_count_a_repeated_finding_as_its_own_diagonal():
    rng = np.random.default_rng(8)
    real, gen = rng.normal(size=(40, 6)), rng.normal(size=(2, 40, 6))
    ev = Evidence("kid", "lower", features=gen, real=real)
    distinct = rng.permutation(40)[:25]
    assert ev.value(distinct, np.array([1])) == pytest.approx(kernel_distance(real[distinct], gen[1][distinct]), rel=1e-9)
    items = np.array([0, 0, 3, 5, 5, 5, 7])
    k = lambda a, b: (a @ b / 6 + 1.0) ** 3  # noqa: E731
    pairs = [(a, b) for a in range(7) for b in range(7) if items[a] != items[b]]
    x, y = real[items], gen[0][items]
    by_hand = (np.mean([k(x[a], x[b]) for a, b in pairs]) + np.mean([k(y[a], y[b]) for a, b in pairs])
               - 2 * np.mean([k(x[a], y[b]) for a in range(7) for b in range(7) if a == b or items[a] != items[b]]))
    assert ev.value(items, np.array([0])) == pytest.approx(by_hand, rel=1e-9)
    assert math.isnan(ev.value(np.array([4, 4, 4]), np.array([0])))
    same = fidelity.cell_interval(ev, n_boot=200)  # one distribution: the interval holds the value and 0
    assert same.low <= same.value <= same.high and same.low < 0 < same.high


def test_kid_on_subsets_is_seeded_and_unequal_sets_work():
    rng = np.random.default_rng(1)
    real, gen = rng.normal(size=(40, 6)), rng.normal(0.5, 1.0, size=(25, 6))
    a = fidelity.kid(real, gen, "toy", subset_size=20, subsets=30, seed=3)
    assert a == fidelity.kid(real, gen, "toy", subset_size=20, subsets=30, seed=3)
    assert a.value > 0 and a.spread > 0 and (a.n_real, a.n_generated) == (40, 25)
    with pytest.raises(ValueError, match="width"):
        fidelity.kid(real, gen[:, :5], "toy")


def test_prdc_by_hand_on_a_two_d_toy():
    """k = 1. Real A (0,0), B (0,1), C (2,0): radii 1, 1, 2. Generated P (0,0.5), Q (10,0), S (10,1):
    radii 10.01, 1, 1. Precision: P in A's ball, Q and S in none -> 1/3. Density: P in A's and B's
    balls (C's: 2.06 > 2) -> 2 / (1 x 3). Recall: A, B, C all in P's ball -> 1. Coverage: A's and
    B's nearest generated image (P, 0.5) inside their balls, C's (P, 2.06) outside -> 2/3."""
    real = np.array([[0, 0], [0, 1], [2, 0]], float)
    gen = np.array([[0, 0.5], [10, 0], [10, 1]], float)
    got = {m: s.value for m, s in fidelity.precision_recall_density_coverage(real, gen, "toy", k=1).items()}
    assert got == pytest.approx({"precision": 1 / 3, "recall": 1.0, "density": 2 / 3, "coverage": 2 / 3})
    items = fidelity.prdc_per_item(real, gen, k=1)
    assert items["precision"].tolist() == [1, 0, 0] and items["coverage"].tolist() == [1, 1, 0]


def test_prdc_identical_sets_score_one_and_far_sets_zero():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(50, 3))
    same = fidelity.precision_recall_density_coverage(real, real, "toy")
    assert [same[m].value for m in ("precision", "recall", "coverage")] == [1.0, 1.0, 1.0]
    assert same["density"].value == pytest.approx(1.0, abs=0.35) and same["density"].label == "density (toy)"
    far = fidelity.precision_recall_density_coverage(real, real + 100.0, "toy")
    assert [far[m].value for m in fidelity.PRDC_METRICS] == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="k = 5 needs more than 5"):
        fidelity.precision_recall_density_coverage(real[:5], real[:5], "toy")


def test_per_item_prdc_averages_to_the_librarys_values():
    from prdc import compute_prdc

    rng = np.random.default_rng(3)
    real, gen = rng.normal(size=(40, 5)), rng.normal(0.3, 1.2, size=(40, 5))
    items = fidelity.prdc_per_item(real, gen)
    ref = compute_prdc(real, gen, 5)
    for m in fidelity.PRDC_METRICS:
        assert items[m].mean() == pytest.approx(ref[m], abs=1e-12)


def test_fidelity_evidence_cells_and_their_intervals(tmp_path):
    rng = np.random.default_rng(4)
    real = rng.normal(size=(30, 4))
    close = real[None] + rng.normal(0, 0.3, (2, 30, 4))
    far = rng.normal(1.5, 1.0, (2, 30, 4))
    a, b = fidelity.fidelity_evidence(real, close), fidelity.fidelity_evidence(real, far)
    assert sorted(a) == sorted(["KID", *fidelity.PRDC_METRICS])
    expected = np.mean([fidelity.precision_recall_density_coverage(real, g, "t")["coverage"].value for g in close])
    assert a["coverage"].value() == pytest.approx(expected)
    assert paired_difference(a["KID"], b["KID"], n_boot=60).favours_a
    assert paired_difference(a["precision"], b["precision"], n_boot=200).favours_a
    back = load_evidence(save_evidence(tmp_path / "t1.evidence.npz", {("m", k): ev for k, ev in a.items()}))
    assert back[("m", "KID")].kind == "kid" and back[("m", "KID")].value() == pytest.approx(a["KID"].value(), rel=1e-5)
    iv = fidelity.cell_interval(a["KID"], n_boot=60)
    assert iv.low <= iv.value <= iv.high and (iv.n_items, iv.n_seeds) == (30, 2) and "[" in iv.text()


def test_a_frechet_cells_interval_holds_its_value():
    """Resamples repeat findings, which inflates a Fréchet distance: the raw percentiles of FID's
    resamples lie above the value; the bias-corrected interval holds it."""
    rng = np.random.default_rng(9)
    real = rng.normal(size=(40, 20))
    ev = Evidence("fid", "lower", features=rng.normal(0.2, 1.1, size=(2, 40, 20)), real=real)
    iv = fidelity.cell_interval(ev, n_boot=150)
    assert iv.low < iv.value < iv.high
    raw = [ev.value(np.random.default_rng(b).integers(0, 40, 40)) for b in range(20)]
    assert min(raw) > iv.value  # what the uncorrected percentiles would have been


def test_per_pathology_recomputes_each_cell_on_its_findings():
    rng = np.random.default_rng(5)
    values = rng.random((2, 9))
    labels = ["Effusion"] * 4 + ["Pneumonia"] * 4 + ["Mass"]
    real = rng.normal(size=(9, 3))
    cells = {("RadGazeGen", "SSIM"): Evidence("mean", "higher", values=values),
             ("RadGazeGen", "FID"): Evidence("fid", "lower", features=real[None] + 0.1, real=real)}
    table = fidelity.per_pathology(cells, labels, min_items=2, n_boot=40)
    assert table["pathology"].unique().tolist() == ["all findings", "Effusion", "Pneumonia"]  # Mass: 1 finding
    ssim = table[(table.pathology == "Effusion") & (table.column == "SSIM")].iloc[0]
    assert ssim["n"] == 4 and ssim["value"] == pytest.approx(values[:, :4].mean())
    assert ssim["low"] <= ssim["value"] <= ssim["high"]
    # a shift of 0.1 in each of 3 features leaves the covariances: FID = |0.1, 0.1, 0.1|^2 on every group
    assert table[table.column == "FID"]["value"].tolist() == pytest.approx([0.03] * 3, abs=1e-9)
    with pytest.raises(ValueError, match="8 labels for cells over \\[9\\] findings"):
        fidelity.per_pathology(cells, labels[:8])


def test_radiomics_statistics_by_hand():
    flat = np.full((1, 16, 16), 77, np.uint8)
    halves = np.zeros((1, 16, 16), np.uint8)
    halves[0, :, 8:] = 255
    feats, names = radiomics_distance.radiomics_features(np.concatenate([flat, halves]))
    assert feats.shape == (2, 20) and names[:5] == ["image.mean", "image.std", "image.skewness", "image.kurtosis",
                                                     "image.entropy"]
    assert feats[0, :5].tolist() == [77.0, 0.0, 0.0, 0.0, 0.0]  # constant: no spread, one histogram bin
    assert feats[1, :5] == pytest.approx([127.5, 127.5, 0.0, -2.0, 1.0])  # two equal halves: kurtosis -2, 1 bit
    assert feats[0, names.index("canny.mean")] == 0.0 and feats[1, names.index("canny.mean")] > 0
    masks = np.zeros((2, 16, 16), np.uint8)
    masks[:, :, :8] = 1  # the left half: black in ``halves``
    with_mask, names = radiomics_distance.radiomics_features(np.concatenate([flat, halves]), masks)
    assert with_mask.shape == (2, 41) and names[-1] == "lung.area"
    assert with_mask[1, names.index("lung.image.mean")] == 0.0 and with_mask[1, -1] == 0.5


def test_frechet_radiomics_distance_names_itself_and_orders_sets():
    rng = np.random.default_rng(6)
    base = rng.normal(120, 30, (24, 32, 32))
    real = np.clip(base, 0, 255).astype(np.uint8)
    noisy = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
    bright = np.clip(base * 0.5 + 100, 0, 255).astype(np.uint8)
    same = radiomics_distance.frechet_radiomics_distance(real, real)
    assert same.value == pytest.approx(0.0, abs=1e-4) and same.label == "FRD (radiomics-map statistics)"
    assert radiomics_distance.frechet_radiomics_distance(real, noisy).value < radiomics_distance.frechet_radiomics_distance(real, bright).value
    masks = np.ones_like(real)
    assert "lung mask" in radiomics_distance.frechet_radiomics_distance(real, noisy, masks, masks).features
    with pytest.raises(ValueError, match="give size="):
        radiomics_distance.frechet_radiomics_distance(real, real[:, :16, :16])
    assert math.isfinite(radiomics_distance.frechet_radiomics_distance(real, real[:, :16, :16], size=16).value)
    # the evidence cell recomputes the same distance (equal sets: the library's and intervals' Fréchet agree)
    ev = radiomics_distance.radiomics_evidence(real, noisy[None])
    assert ev.value() == pytest.approx(radiomics_distance.frechet_radiomics_distance(real, noisy).value, rel=1e-6)


def test_frechet_distance_of_matches_the_intervals_formula():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(40, 5)), rng.normal(0.4, 1.1, size=(40, 5))
    assert fidelity.frechet_distance_of(a, b, "FD", "toy").value == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_features_of_a_metrics_name():
    assert fidelity.features_of("FID (study features)") == "study features"
    assert fidelity.features_of("FID (Inception-v3, pt_inception.pth)") == "Inception-v3, pt_inception.pth"
    assert fidelity.features_of("TorchXRayVision DenseNet-121") == "TorchXRayVision DenseNet-121"


def test_prdc_k_shrinks_for_few_images_and_per_item_says_so():
    """A smoke run has 6 test images: k = 5 needs 7 (prdc ranks k + 1 neighbours among the others)."""
    assert [fidelity.prdc_neighbours(n) for n in (3, 6, 7, 100)] == [1, 4, 5, 5]
    with pytest.raises(ValueError, match="at least 3"):
        fidelity.prdc_neighbours(2)
    rng = np.random.default_rng(5)
    real, gen = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    with pytest.raises(ValueError, match="use prdc_neighbours"):
        fidelity.prdc_per_item(real, gen)
    cells = fidelity.fidelity_evidence(real, gen[None], fidelity.prdc_neighbours(6))
    assert cells["precision"].value() == pytest.approx(
        fidelity.precision_recall_density_coverage(real, gen, "t", k=4)["precision"].value)


def test_pathology_table_has_one_row_per_label_and_method_with_intervals():
    rng = np.random.default_rng(6)
    labels = np.array(["Edema"] * 5 + ["Atelectasis"] * 4 + ["Mass"])  # Mass: 1 finding, left out
    cells = {(m, "SSIM"): Evidence("mean", "higher", values=rng.uniform(size=(2, 10))) for m in ("SD", "RadGazeGen")}
    long = fidelity.per_pathology(cells, labels, n_boot=50)
    wide = fidelity.pathology_table(long)
    assert list(wide.index) == [("Atelectasis", 4, "RadGazeGen"), ("Atelectasis", 4, "SD"),
                                ("Edema", 5, "RadGazeGen"), ("Edema", 5, "SD")]
    sd_edema = long[(long.pathology == "Edema") & (long.row == "SD")].iloc[0]
    assert sd_edema.value == pytest.approx(cells[("SD", "SSIM")].values[:, :5].mean())
    assert wide.loc[("Edema", 5, "SD"), "SSIM"] == f"{sd_edema.value:.3g} [{sd_edema.low:.3g}, {sd_edema.high:.3g}]"
