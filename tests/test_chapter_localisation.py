"""The package functions behind chapters 13-15 (issue 27: the chapters narrate, the package
computes): the ground-truth box lookup and the pointing game (``metrics.localisation``), the
moved-gaze test's steps (``metrics.moved_gaze``), the primary test's rule and glued values
(``metrics.mirrored_gaze``), chapter 14's claims table and counts (``metrics.results_summary``),
chapter 15's controls table (``metrics.copy_controls``) and the moved-gaze figure. Small
synthetic arrays and frames; no smoke run."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from radgazegen.controls import gaze
from radgazegen.core.intervals import Evidence
from radgazegen import generation
from radgazegen.generation import methods
from radgazegen.metrics import copy_controls, localisation, memorisation, mirrored_gaze, moved_gaze, results_summary

S = 8  # grid side


@pytest.fixture
def truth() -> pd.DataFrame:
    """Two images with findings (a has two), one without; boxes in pixels of 80 x 40 images."""
    return pd.DataFrame({"dicom_id": ["a", "a", "b"], "label": ["Mass", "Nodule", "Mass"],
                         "xmin": [0, 40, 20], "ymin": [0, 20, 10], "xmax": [40, 80, 60], "ymax": [20, 40, 30],
                         "side": ["right", "left", "right"]})


class PeakLocaliser:
    """A localiser whose logits and heat maps are the image itself: its peak is the brightest pixel."""

    def logits(self, images):
        return np.asarray(images, np.float32)

    heatmaps = logits


def peak_images(points, n_reps=1):
    """``(n_reps, N, S, S)`` uint8 images, each black with one white pixel at ``points[i] = (y, x)``."""
    ims = np.zeros((len(points), S, S), np.uint8)
    for i, (y, x) in enumerate(points):
        ims[i, y, x] = 255
    return np.stack([ims] * n_reps)


# ---------------------------------------------------------------- localisation

def test_finding_boxes_in_image_pixels_and_on_the_grid(truth):
    assert gaze.finding_boxes(truth, "a") == [(0, 0, 40, 20), (40, 20, 80, 40)]
    assert gaze.finding_boxes(truth, "a", "Nodule") == [(40, 20, 80, 40)]
    assert gaze.finding_boxes(truth, "c") == []
    # an 80 x 40 image on an 8 x 8 grid: x scaled by 1/10, y by 1/5
    assert gaze.finding_boxes(truth, "a", "Nodule", (80, 40), S) == [(4.0, 4.0, 8.0, 8.0)]


def test_test_masks_keep_the_findings_with_a_box_and_chance_is_their_area(truth):
    masks, keep, chance = localisation.test_masks(truth, ["a", "b", "c"], ["Mass", "Mass", "Mass"],
                                                  {"a": (80, 40), "b": (80, 40), "c": (80, 40)}, S)
    assert masks.shape == (3, S, S) and keep.tolist() == [True, True, False]
    assert masks[0].sum() == 4 * 4 and masks[1].sum() == 4 * 4  # (0..4, 0..4) and (2..6, 2..6)
    assert chance == pytest.approx(16 / 64)
    _, none, nan = localisation.test_masks(truth, ["c"], ["Mass"], {"c": (80, 40)}, S)
    assert not none.any() and np.isnan(nan)


def test_the_fixed_point_floor_hits_where_the_training_boxes_of_the_label_overlap(truth):
    train = [SimpleNamespace(dicom_id="a"), SimpleNamespace(dicom_id="b")]
    test = np.zeros((2, S, S), np.float32)
    test[0, 2:4, 2:4] = 1  # the two Mass boxes overlap at rows 2-3, columns 2-3
    test[1, 6:, 6:] = 1  # far from it
    hits = localisation.fixed_point_hits(train, [(80, 40), (80, 40)], truth, S, test, ["Mass", "Mass"])
    assert hits.tolist() == [1.0, 0.0]
    assert localisation.fixed_point_hits(train, [(80, 40)] * 2, truth, S, test[:1], ["Effusion"]).tolist() == [0.0]


def test_pointing_cells_score_each_row_and_add_chance_and_floor():
    masks = np.zeros((3, S, S), np.float32)
    masks[0, :2, :2] = masks[1, 4:, 4:] = 1  # the third has no box: not scored
    keep = np.array([True, True, False])
    candidates = {"real test images": peak_images([(0, 0), (5, 5), (0, 0)])[0][None],  # hits both
                  "SD": peak_images([(7, 7), (5, 5), (0, 0)], n_reps=2)}  # hits one of two, twice
    mean, std, cells = localisation.pointing_cells(PeakLocaliser(), candidates, masks, keep, np.array([1.0, 0.0], np.float32))
    assert mean == {"real test images": 1.0, "SD": 0.5, localisation.FIXED_POINT: 0.5}
    assert std["SD"] == 0.0 and std[localisation.FIXED_POINT] == 0.0
    assert cells[("SD", "hit rate")].values.shape == (2, 2)
    assert cells[(localisation.CHANCE, "hit rate")].values.tolist() == [[4 / 64, 16 / 64]]
    assert list(cells)[-2:] == [(localisation.CHANCE, "hit rate"), (localisation.FIXED_POINT, "hit rate")]
    frame = localisation.pointing_frame(mean, 0.3, {"SD": "no"})
    assert frame["sees the gaze"].tolist() == ["(real)", "no", "(floor)"] and (frame["chance"] == 0.3).all()


def test_pointing_summary_compares_the_methods_that_see_the_gaze_with_those_that_do_not():
    mean = {"real test images": 0.9, methods.SD: 0.2, methods.RAD_CN: 0.4, methods.HVA_CN: 0.5, methods.RADGAZEGEN: 0.3}
    sees = {methods.SD: "no", methods.RAD_CN: "no", methods.HVA_CN: "yes", methods.RADGAZEGEN: "yes"}
    out = localisation.pointing_summary(mean, sees, 0.1, 7, 2)
    assert out["best_gaze"] == 0.5 and out["best_blind"] == 0.4 and out["n_gaze_methods"] == 2
    assert out["n_gaze_above_blind"] == 1 and out["hit_rg"] == 0.3 and out["hit_real"] == 0.9
    empty = localisation.pointing_summary()
    assert set(empty) == set(out) and empty["n_items"] == 0 and np.isnan(empty["hit_sd"])


# ---------------------------------------------------------------- moved gaze

def test_kept_items_must_line_up_with_the_manifest():
    items = [SimpleNamespace(dicom_id=d) for d in "abcz"]
    kept, ids, findings = moved_gaze.kept_items(items, list("abc"), ["M", "N", "O"], np.array([True, False, True]))
    assert [it.dicom_id for it in kept] == ["a", "c"] and ids == ["a", "c"] and findings == ["M", "O"]
    with pytest.raises(RuntimeError, match="line up"):
        moved_gaze.kept_items(items[::-1], list("abc"), ["M", "N", "O"], np.ones(3, bool))


def test_move_gaze_puts_each_gaze_on_another_images_box():
    controls = np.zeros((2, 3, S, S), np.float32)
    controls[0, :, 1, 1] = controls[1, :, 6, 6] = 1  # gaze at (x, y) = (1, 1) and (6, 6)
    boxes = [(0, 0, 3, 3), (5, 5, 8, 8)]  # centres (1.5, 1.5) and (6.5, 6.5)
    gazed, moved_c, shifts = moved_gaze.move_gaze(controls, boxes, ["a", "b"], ["M", "M"], 3.0)
    assert gazed == [boxes[1], boxes[0]]
    assert shifts.tolist() == [[5.5, 5.5], [-4.5, -4.5]]
    assert moved_c[0, 0].sum() == 1 and moved_c[0, 0, 7, 7] == 1  # shifted by round(5.5) = 6 px
    with pytest.raises(ValueError, match="moved_gaze_targets"):
        moved_gaze.move_gaze(controls, boxes, ["a", "b"], ["M", "M"], 3.0, targets="nearby")


def test_seeds_and_comparisons_of_the_moved_gaze_test():
    assert generation.replicate_seeds(5, 2, 3) == [2005, 2006, 2007]
    pairs = moved_gaze.comparison_pairs({methods.SD: None, methods.HVA_CN: None})
    assert ((methods.HVA_CN, "gazed box"), (methods.SD, "gazed box")) in pairs
    assert ((methods.SD, "gazed box"), (methods.SD, "gazed box")) not in pairs and len(pairs) == 5


def test_moved_cells_score_the_gazed_the_original_and_a_shuffled_box():
    own = np.zeros((2, S, S), np.float32)
    own[0, :2, :2] = own[1, 6:, 6:] = 1
    gazed_boxes = [(6, 6, 8, 8), (0, 0, 2, 2)]  # swapped
    follows = peak_images([(7, 7), (0, 0)])  # each image peaks in its gazed box
    cells = moved_gaze.moved_cells({"follower": follows}, PeakLocaliser(), gazed_boxes, own, ["a", "b"])
    assert cells[("follower", "gazed box")].values.tolist() == [[1.0, 1.0]]
    assert cells[("follower", "original box")].values.tolist() == [[0.0, 0.0]]
    assert cells[("follower", "shuffled gaze")].values.tolist() == [[0.0, 0.0]]  # the other item's gazed box
    assert cells[(moved_gaze.CHANCE, "gazed box")].values.tolist() == [[4 / 64, 4 / 64]]


def _cells(follower_hits, sd_hits):
    mean = lambda v: Evidence("mean", "higher", values=np.asarray(v, np.float64)[None])  # noqa: E731
    return {(methods.HVA_CN_EQ5, "gazed box"): mean(follower_hits), (methods.SD, "gazed box"): mean(sd_hits),
            (methods.HVA_CN_EQ5, "shuffled gaze"): mean(sd_hits)}


def test_the_moved_gaze_verdict():
    moved = {methods.SD: None, methods.HVA_CN_EQ5: None}
    out = moved_gaze.verdict_values(_cells(np.ones(40), np.zeros(40)), moved, n_boot=200)
    assert out["mg_follower"] == methods.HVA_CN_EQ5 and out["mg_diff"] == 1.0 and out["mg_pairs"] == 40
    assert out["mg_verdict"].startswith("excludes 0") and out["mg_needed"] == "(already enough)"
    worse = moved_gaze.verdict_values(_cells(np.zeros(40), np.ones(40)), moved, n_boot=200)
    assert worse["mg_verdict"].startswith("is not positive")
    default = moved_gaze.verdict_values(None, None)
    assert default["mg_follower"] == "(none)" and np.isnan(default["mg_rate"])


def test_moved_examples_figure_has_a_row_per_finding_and_a_column_per_panel():
    import matplotlib

    matplotlib.use("Agg")
    from radgazegen.figures import pointing

    controls = np.zeros((3, 3, S, S), np.float32)
    fig = pointing.moved_examples_figure(controls, controls, {"SD": peak_images([(1, 1)] * 3)}, [(0, 0, 2, 2)] * 3,
                                         [(4, 4, 6, 6)] * 3, ["Mass"] * 3, PeakLocaliser(), n_rows=2)
    assert len(fig.axes) == 2 * 3 and fig.axes[2].get_title() == "SD"
    assert fig.axes[0].get_ylabel() == "Mass"


# ---------------------------------------------------------------- the primary test

def test_the_primary_verdict_values_default_and_read_the_rule():
    default = mirrored_gaze.verdict_values(0.05)
    assert default["pv_smallest"] == 0.05 and default["pv_items"] == 0 and np.isnan(default["pv_diff"])
    hits = {"SD": np.full((2, 4), 0.5), methods.HVA_CN_EQ5: np.ones((2, 4))}
    arms = mirrored_gaze.Arms(images={}, hits=hits, ceiling=np.ones((1, 4)), shuffled=np.full((2, 4), 0.5))
    cells = {(n, mirrored_gaze.GAZED_LUNG): Evidence("mean", "higher", values=v) for n, v in hits.items()}
    cells[("true counterfactual (ceiling)", mirrored_gaze.GAZED_LUNG)] = Evidence("mean", "higher", values=arms.ceiling)
    cells[(methods.HVA_CN_EQ5, mirrored_gaze.DIFFERENCE)] = Evidence("mean", "higher", values=np.full((2, 4), 3.0))
    primary = mirrored_gaze.decide_primary(cells, arms, 2, 0.05, n_boot=200)
    assert primary["key"].difference == pytest.approx(0.5) and primary["oracle_key"] is None
    assert primary["ceiling_low"] == 1.0 and primary["between"] == 0.0
    out = mirrored_gaze.verdict_values(0.05, primary, [None] * 4, arms, cells, 2)
    assert out["pv_rate"] == 1.0 and out["pv_items"] == 4 and out["pv_pairs"] == "4 × 2"
    assert out["pv_localiser_free"] == 3.0 and np.isnan(out["pv_oracle"]) and out["pv_verdict"] == primary["verdict"].verdict


# ---------------------------------------------------------------- chapter 14

def test_claims_summary_and_page_values():
    run_claims = pd.DataFrame({"table": ["table1", "table2", "gaze"], "supported": [True, False, None],
                               "holds": [True, True, None], "evidence": ["e1", "e2", "e3"]},
                              index=pd.Index(["c1", "c2", "c3"], name="claim"))
    on_paper = pd.DataFrame({"holds": [True, False], "evidence": ["p1", "p2"]}, index=pd.Index(["c1", "c2"], name="claim"))
    summary = results_summary.claims_summary(run_claims, on_paper, "smoke")
    assert summary.iloc[2, 3] == "(not in the paper)" and summary.iloc[0, 3].endswith(": p1")
    values = results_summary.page_values("smoke", {"table1": None, "localisation": None}, {"t": {"replicates": 3}},
                                         run_claims, on_paper)
    assert values["n_tables"] == 1 and values["n_paper_tables"] == 5 and values["n_claims"] == 3
    assert values["n_claims_paper"] == 2 and values["n_hold_paper"] == 1 and values["n_hold_run"] == 2
    assert values["n_checkable_run"] == 2 and values["n_supported"] == 1 and values["n_with_intervals"] == 2
    assert values["n_replicates"] == 3 and values["profile_statement"].startswith("The smoke profile")


# ---------------------------------------------------------------- chapter 15

def test_the_controls_table_flags_a_copier_and_reidentifies_its_patients():
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (12, 16, 16)).astype(np.uint8)
    test_images = rng.integers(0, 256, (6, 16, 16)).astype(np.uint8)
    flat = lambda x: np.asarray(x, np.float64).reshape(len(x), -1)  # noqa: E731 (the "features")
    spaces = memorisation.spaces(flat, train_images, test_images)
    train = [SimpleNamespace(subject_id=f"p{i}") for i in range(12)]
    images = {"profile": rng.integers(0, 256, (4, 16, 16)).astype(np.uint8),
              "over-trained": train_images[8:12],  # copies, but of other patients than its prompts'
              "copier": train_images[:4], "round trip": train_images[4:8]}
    table, checks = copy_controls.controls_table(images, spaces, flat, train, ["p0", "p1", "p2", "p3"])
    assert list(table.index) == list(images) and table.loc["copier", "copy rate (features)"] == 1.0
    assert table.loc["copier", "re-identified"].startswith("1.00")
    values = copy_controls.control_values(table, checks, "copier", "round trip", 0.05, "smoke")
    assert values["mem_copier_rate"] == 1.0 and values["mem_vae_pixels"] == 1.0
    assert values["mem_over_rate"] == 1.0 and values["mem_over_reid"].startswith("0.00")
    assert values["mem_base_rate"] == table.iloc[0]["copy rate (features)"] < 1.0
    assert values["mem_reading"] == memorisation.positive_control_reading(True, True, "smoke")
