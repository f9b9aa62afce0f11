"""The primary test of the gaze claim (issue 25): the mirrored gaze, its endpoints, the rule,
and the cohort option that gives it focal findings in either lung."""
from __future__ import annotations

import numpy as np
import pytest

from radgazegen.metrics import counterfactual as cf
from radgazegen.core.intervals import Evidence, paired_difference
from radgazegen.core.labels import FOCAL_FINDINGS
from radgazegen.synthetic import CohortConfig, render_phantom
from radgazegen.synthetic.cohort import _sample_labels


def test_mirroring_a_gaze_moves_it_to_the_other_half_and_back():
    g = np.zeros((32, 32), np.float32)
    g[10:14, 3:9] = 1.0
    assert cf.gaze_side(g) == 0 and cf.gaze_side(cf.mirror(g)) == 1
    assert np.array_equal(cf.mirror(cf.mirror(g)), g)
    assert cf.mirror_box((3, 10, 9, 14), 32) == (23, 10, 29, 14)
    m = cf.box_mask(cf.mirror_box((3, 10, 9, 14), 32), 32)
    assert np.array_equal(m, cf.mirror(cf.box_mask((3, 10, 9, 14), 32)))


def test_the_endpoint_reads_the_strongest_logit_inside_the_lungs_not_a_saturated_tie():
    logits = np.zeros((2, 8, 8), np.float32)
    logits[0, 0, 0] = 50.0   # outside the lungs: ignored
    logits[0, 4, 6] = 5.0    # right half, inside
    logits[1, 4, 1] = 30.0   # left half
    logits[1, 4, 6] = 29.0   # a sigmoid would tie these two at 1.0 (float32); the logits do not
    lungs = np.zeros((2, 8, 8), bool)
    lungs[:, 2:7, 1:7] = True
    assert cf.lung_peak_side(logits, lungs).tolist() == [1, 0]
    assert cf.side_hits(np.array([1, 0]), [1, 1]).tolist() == [1.0, 0.0]


def test_a_method_blind_to_the_gaze_scores_exactly_one_half():
    rng = np.random.default_rng(0)
    peaks = rng.integers(0, 2, 50)  # wherever SD puts the finding
    side_o = rng.integers(0, 2, 50)
    score = 0.5 * (cf.side_hits(peaks, side_o) + cf.side_hits(peaks, 1 - side_o))
    assert np.all(score == 0.5)


def test_the_true_counterfactual_swaps_the_lesion_to_the_mirrored_place():
    im = np.full((16, 16), 10, np.uint8)
    im[4:8, 2:5] = 200  # the lesion, left half
    out = cf.swap_boxes(im, (2, 4, 5, 8))
    assert (out[4:8, 11:14] == 200).all() and (out[4:8, 2:5] == 10).all()
    assert cf.swap_boxes(im, (6, 4, 10, 8)).tolist() == im.tolist()  # overlaps its mirror: unchanged


def test_the_localiser_free_share_is_one_without_concentration_and_larger_with_it():
    a = np.zeros((2, 10, 10))
    b = a.copy()
    b[0] += 1.0  # a difference everywhere
    b[1, 0:2, 0:2] = 5.0  # a difference only in the region
    region = np.zeros((2, 10, 10), bool)
    region[:, 0:2, 0:5] = True
    share = cf.difference_share(a, b, region)
    assert share[0] == pytest.approx(1.0) and share[1] == pytest.approx(10.0)
    assert np.isnan(cf.difference_share(a[:1], a[:1], region[:1])[0])


def test_variance_components_recover_the_between_and_within_parts():
    rng = np.random.default_rng(1)
    d = rng.normal(0, 0.5, 2000)[None] + rng.normal(0, 0.2, (5, 2000))
    between, within = cf.variance_components(d)
    assert between == pytest.approx(0.25, rel=0.1) and within == pytest.approx(0.04, rel=0.1)
    n = cf.findings_needed(0.039, 0.106, 0.053, 3)
    assert 200 < n < 300  # the figure: about 250 findings x 3 seeds for 80% power at +0.053
    assert cf.findings_needed(0.04, 0.1, 0.0, 3) == -1


def _key(values_a, values_b):
    return paired_difference(Evidence("mean", "higher", values=values_a), Evidence("mean", "higher", values=values_b),
                             n_boot=300, seed=0)


def test_the_rule_supports_refutes_or_asks_for_more():
    rng = np.random.default_rng(2)
    sd = np.full((3, 200), 0.5)
    follows = np.where(rng.random((3, 200)) < 0.8, 1.0, 0.0)
    blind = np.where(rng.random((3, 200)) < 0.5, 1.0, 0.0) * 0 + 0.5  # exactly SD
    oracle = _key(np.where(rng.random((1, 200)) < 0.9, 1.0, 0.0), sd[:1])
    assert cf.decide(_key(follows, sd), 0.9, oracle, 0.01, 0.2, 3).verdict == "supported"
    refuted = cf.decide(_key(blind, sd), 0.9, oracle, 0.0, 0.0, 3)
    assert refuted.verdict == "refuted at this scale"
    assert cf.decide(_key(blind, sd), 0.45, oracle, 0.0, 0.0, 3).verdict == "undecided"  # the ceiling fails
    noisy = np.where(rng.random((1, 20)) < 0.55, 1.0, 0.0)
    v = cf.decide(_key(noisy, sd[:1, :20]), 0.9, oracle, 0.04, 0.2, 1)
    assert v.verdict == "undecided" and v.needed > 20


def test_fixed_point_prior_hits_where_a_label_usually_is():
    masks = np.zeros((4, 8, 8), np.float32)
    masks[:3, 1:3, 1:3] = 1
    masks[3, 5:7, 5:7] = 1
    prior = cf.fixed_point_prior(masks, ["a", "a", "a", "b"])
    assert prior["a"] == (1, 1) and prior["b"] == (5, 5)
    assert cf.prior_hits(prior, masks[[0, 3]], ["a", "c"]).tolist() == [1.0, 0.0]


def test_the_focal_option_raises_the_share_of_focal_findings_and_leaves_the_default_cohort_alone():
    base = _sample_labels(CohortConfig(n_mimic=600), np.random.default_rng(0))
    again = _sample_labels(CohortConfig(n_mimic=600, focal_boost=1.0, lesion_scale=1.0), np.random.default_rng(0))
    boosted = _sample_labels(CohortConfig(n_mimic=600, focal_boost=5.0), np.random.default_rng(0))
    share = lambda labels: np.mean([lab[0] in FOCAL_FINDINGS for lab in labels])  # noqa: E731
    assert base == again
    assert share(boosted) > 2 * share(base) and share(boosted) > 0.4
    with pytest.raises(ValueError, match="focal_boost"):
        CohortConfig(focal_boost=0)


def test_lesion_scale_draws_the_same_focal_finding_larger_at_the_same_place():
    small = render_phantom(["Lung Lesion"], np.random.default_rng(5), (256, 256))
    large = render_phantom(["Lung Lesion"], np.random.default_rng(5), (256, 256), lesion_scale=1.6)
    (s,), (g,) = small.findings, large.findings
    area = lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])  # noqa: E731
    assert area(g) > 1.8 * area(s)
    cs, cg = ((s.box[0] + s.box[2]) / 2, (s.box[1] + s.box[3]) / 2), ((g.box[0] + g.box[2]) / 2, (g.box[1] + g.box[3]) / 2)
    assert abs(cs[0] - cg[0]) < 3 and abs(cs[1] - cg[1]) < 3
