"""Moved-gaze counterfactuals (issue 14): prompts without place words, moved gaze controls,
targets chosen from other images, the shuffled-gaze baseline."""
from __future__ import annotations

import numpy as np
import pytest

from radgazegen.metrics import counterfactual as cf, paper_claims
from radgazegen.core.labels import FINDING_KEYWORDS


@pytest.mark.parametrize("text, expected", [
    ("A rounded nodule is seen in the left upper zone.", "A rounded nodule is seen."),
    ("There is a well-defined mass in the right lower zone.", "There is a well-defined mass."),
    ("There is a left apical pneumothorax.", "There is a pneumothorax."),
    ("Plate-like atelectasis in the right middle zone.", "Plate-like atelectasis."),
    ("A support device projects over the superior vena cava.", "A support device projects."),
    ("The heart is enlarged, consistent with cardiomegaly.", "The heart is enlarged, consistent with cardiomegaly."),
])
def test_place_words_are_removed(text, expected):
    assert cf.strip_location(text) == expected


def test_the_prompt_keeps_only_the_sentences_of_the_finding_without_place_words():
    report = ("FINDINGS: No pleural effusion. A rounded nodule is seen in the left upper zone. The heart size is normal. "
              "IMPRESSION: Nodule in the left upper zone.")
    prompt = cf.location_free_prompt(report, ["nodule", "mass"], "Lung Lesion.")
    assert "nodule" in prompt.lower()
    assert not any(w in prompt.lower().split() for w in ("left", "upper", "zone", "effusion", "heart"))
    assert cf.location_free_prompt("The heart size is normal.", ["nodule"], "Lung Lesion.") == "Lung Lesion."
    assert FINDING_KEYWORDS  # the chapter passes the labels' keywords


def test_a_moved_control_lands_on_the_target_box_and_nothing_wraps_around():
    c = np.zeros((3, 32, 32), np.float32)
    c[:, 4:8, 4:8] = 1.0  # centre of mass (5.5, 5.5)
    out, shifts = cf.moved(c[None], [(20, 24, 26, 30)])  # centre (23, 27)
    assert np.allclose(shifts[0], (17.5, 21.5))
    assert np.allclose(cf.centre_of_mass(out[0, 0]), (23.5, 27.5), atol=0.6)
    assert out.sum() == c.sum()  # moved whole
    assert cf.translate(c, -40, 0).sum() == 0 and cf.translate(c, 30, 0).sum() == 0  # off the grid: lost, not wrapped
    assert cf.translate(c[0], 0, 0).tolist() == c[0].tolist()


def test_targets_are_boxes_of_other_images_far_from_the_gaze():
    boxes = [(0, 0, 4, 4), (26, 26, 30, 30), (0, 26, 4, 30), (14, 14, 18, 18)]
    images = ["a", "b", "c", "d"]
    t = cf.choose_targets([(2, 2), (28, 28), (2, 28), (16, 16)], images, boxes, images, min_distance=10, seed=1)
    centres = np.array([cf.box_centre(boxes[j]) for j in t])
    own = np.array([(2, 2), (28, 28), (2, 28), (16, 16)])
    assert all(images[j] != images[i] for i, j in enumerate(t))
    assert (np.hypot(*(centres - own).T) >= 10).all()
    again = cf.choose_targets([(2, 2)], ["a"], boxes[:1] + boxes[1:2], ["a", "b"], min_distance=1000)
    assert again.tolist() == [1]  # none that far: the farthest box of another image


def test_targets_keep_the_prompts_finding_when_another_image_has_it():
    boxes = [(0, 0, 4, 4), (26, 26, 30, 30), (0, 26, 4, 30), (26, 0, 30, 4)]
    images, kinds = ["a", "b", "c", "d"], ["mass", "effusion", "mass", "nodule"]
    for seed in range(5):
        t = cf.choose_targets([cf.box_centre(b) for b in boxes], images, boxes, images, min_distance=10, seed=seed,
                              item_kinds=kinds, donor_kinds=kinds)
        assert t[0] == 2 and t[2] == 0  # a mass goes where the other image's mass was
        assert images[t[1]] != "b" and images[t[3]] != "d"  # no other effusion or nodule: any other image


def test_a_gaze_follower_beats_the_shuffled_baseline_and_a_gaze_ignorer_does_not():
    rng = np.random.default_rng(0)
    n, s = 60, 32
    targets = [(x, y, x + 6, y + 6) for x, y in rng.integers(0, s - 6, (n, 2))]
    masks = np.stack([cf.box_mask(b, s) for b in targets])
    follower = masks + 0.01 * rng.random((n, s, s))  # peaks inside its own box
    ignorer = np.zeros((n, s, s))
    ignorer[:, 16, 16] = 1.0  # always the centre
    from radgazegen.metrics import pointing_game

    assert pointing_game(follower, masks).mean() == 1.0
    assert cf.shuffled_hits(follower, masks, n_permutations=10).mean() < 0.2
    assert pointing_game(ignorer, masks).mean() == pytest.approx(cf.shuffled_hits(ignorer, masks, n_permutations=50).mean(), abs=0.05)
    groups = ["x", "x"] + [f"g{i}" for i in range(n - 2)]
    assert cf.shuffled_hits(follower, masks, groups, n_permutations=3).shape == (n,)


def test_intervals_and_paired_comparisons_of_hit_rates():
    from radgazegen.core.intervals import Evidence

    rng = np.random.default_rng(0)
    follows = Evidence("mean", "higher", values=(rng.random((3, 120)) < 0.6).astype(np.float32))
    ignores = Evidence("mean", "higher", values=(rng.random((3, 120)) < 0.15).astype(np.float32))
    cells = {("HVA-CN", "gazed box"): follows, ("SD", "gazed box"): ignores}
    v, lo, hi = cf.interval(follows, n_boot=200)
    assert lo < v < hi and 0.5 < v < 0.7
    table, values = cf.hit_table(cells, n_boot=200)
    assert set(table.index) == {"HVA-CN", "SD"} and table.loc["HVA-CN", "gazed box"].startswith(f"{v:.3f} [")
    out = cf.comparisons(cells, [(("HVA-CN", "gazed box"), ("SD", "gazed box")), (("X", "gazed box"), ("SD", "gazed box"))],
                         n_boot=200)
    assert len(out) == 1 and out.loc[0, "interval excludes 0"] == "a higher"


def test_the_moved_gaze_claim_is_checked_on_means_and_intervals():
    import pandas as pd

    from radgazegen.metrics import evaluation
    from radgazegen.core.intervals import Evidence

    rng = np.random.default_rng(1)
    ev = lambda p: Evidence("mean", "higher", values=(rng.random((3, 150)) < p).astype(np.float32))
    cells = {("RadGazeGen", "gazed box"): ev(0.7), ("RadGazeGen", "shuffled gaze"): ev(0.2), ("SD", "gazed box"): ev(0.2)}
    table = pd.DataFrame({"gazed box": {"RadGazeGen": cells[("RadGazeGen", "gazed box")].value(), "SD": cells[("SD", "gazed box")].value()},
                          "shuffled gaze": {"RadGazeGen": cells[("RadGazeGen", "shuffled gaze")].value(), "SD": 0.2}})
    got = paper_claims.claims({"moved_gaze": table}, {"moved_gaze": cells}, n_boot=200).set_index("claim")
    row = got.loc[paper_claims.MOVED_GAZE_CLAIM]
    assert bool(row["holds"]) and bool(row["supported"])
    assert paper_claims.claims({}).empty
    # where chapter 06 trained HVA-CN (Eq. 5), it is the test's subject: RadGazeGen following the
    # gaze does not decide the claim when the Eq. 5 model does not
    eq5 = "HVA-CN (Eq. 5)"
    cells |= {(eq5, "gazed box"): ev(0.2), (eq5, "shuffled gaze"): ev(0.2)}
    table.loc[eq5] = [cells[(eq5, "gazed box")].value(), cells[(eq5, "shuffled gaze")].value()]
    row = paper_claims.claims({"moved_gaze": table}, {"moved_gaze": cells}, n_boot=200).set_index("claim").loc[
        paper_claims.MOVED_GAZE_CLAIM]
    assert not bool(row["supported"]) and eq5 in row["evidence"] and "RadGazeGen (" not in row["intervals"]
