"""The steps of the data and control chapters (01-03) on small synthetic records: control maps
and their cache, HVA maps, the lung Dice, the localisation sweep, the hypotheses' selection and
rates, and the chapters' figures. No smoke run needed."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from radgazegen import controls  # noqa: E402
from radgazegen.controls import control_maps, gaze, hypothesis_steps, localisation  # noqa: E402
from radgazegen.controls.hypotheses import Selection  # noqa: E402
from radgazegen.core.labels import FINDING_KEYWORDS, MIMIC_LT_CLASSES  # noqa: E402
from radgazegen.data import Box, Record  # noqa: E402
from radgazegen.figures import controls_figures  # noqa: E402

S = 64  # control grid side, pixels
FINDING = "Pneumothorax"


def phantom(seed: int, n: int = 128) -> np.ndarray:
    """A ``(n, n)`` uint8 'radiograph': two bright ellipses (lungs) on a dark background, with noise."""
    yy, xx = np.mgrid[:n, :n]
    img = np.full((n, n), 30.0)
    for cx in (0.3 * n, 0.7 * n):
        img[((xx - cx) / (0.15 * n)) ** 2 + ((yy - 0.5 * n) / (0.3 * n)) ** 2 < 1] = 180
    return np.clip(img + np.random.default_rng(seed).normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def reading(dicom_id: str, fixations=((40.0, 40.0),), keyword: str | None = None, source: str = "reflacx") -> Record:
    """A 128 x 128 px reading: fixations at ``(x, y)`` from 0.1 s, one every 0.3 s, and the
    dictation "<keyword> ." from 0.0 s to 10 s (so every fixation falls in the finding's window)."""
    key = keyword or FINDING_KEYWORDS[FINDING][0]
    fix = pd.DataFrame({"x": [x for x, _ in fixations], "y": [y for _, y in fixations],
                        "start": [0.1 + 0.3 * i for i in range(len(fixations))],
                        "end": [0.3 + 0.3 * i for i in range(len(fixations))]}, dtype=float)
    words = pd.DataFrame({"word": [key, "."], "start": [0.0, 9.0], "end": [9.0, 10.0]})
    return Record(source=source, dicom_id=dicom_id, image_path=Path(f"{dicom_id}.png"), image_size=(128, 128),
                  fixations=fix, words=words, reading_id=f"r-{dicom_id}")


def load(rec) -> np.ndarray:
    return phantom(int(rec.dicom_id[-1]))


# --- control maps (chapter 02) -------------------------------------------------------------

def test_control_caches_compute_each_map_once_and_match_the_filters(tmp_path):
    caches, fns, seg_name = control_maps.control_caches(tmp_path, S, 40.0, 50.0, 1.0)
    assert list(caches) == ["canny", "sobel", "gl", "lung"] and "weight-free" in seg_name
    assert caches["lung"].dir.name.startswith("lung-classical-")
    recs = [reading("img1"), reading("img2")]
    maps = control_maps.cached_controls(recs, caches, fns, (S, S), load=load)
    im = cv2.resize(phantom(1), (S, S), interpolation=cv2.INTER_AREA)
    assert np.array_equal(maps["canny"]["img1"], controls.canny(im, 40.0, 50.0, size=None))
    assert np.array_equal(maps["gl"]["img1"], controls.gaussian_laplace(im, 1.0, size=None))
    assert set(np.unique(maps["lung"]["img2"])) <= {0, 1, 2} and maps["lung"]["img2"].shape == (S, S)
    table = control_maps.cache_summary(caches)
    assert table["computed"].tolist() == [2, 2, 2, 2] and table["reused from cache"].tolist() == [0] * 4
    again, _, _ = control_maps.control_caches(tmp_path, S, 40.0, 50.0, 1.0)
    reread = control_maps.cached_controls(recs, again, fns, (S, S), load=lambda r: pytest.fail("recomputed"))
    assert np.array_equal(reread["sobel"]["img2"], maps["sobel"]["img2"])
    assert control_maps.cache_summary(again)["reused from cache"].tolist() == [2] * 4
    folders = control_maps.control_folders(caches)
    assert set(folders) == {"canny", "sobel", "gl", "segmentation"} and folders["segmentation"] == caches["lung"].dir
    other, _, _ = control_maps.control_caches(tmp_path, S, 30.0, 50.0, 1.0)
    assert other["canny"].dir != caches["canny"].dir and other["sobel"].dir == caches["sobel"].dir


def test_reading_hva_maps_give_the_whole_and_per_finding_maps_and_count_the_empty_ones(tmp_path):
    full = reading("img1", fixations=((32.0, 96.0), (36.0, 90.0)))
    blind = reading("img2", fixations=((32.0, 96.0),), keyword="nothing")  # the finding's word never said

    def findings_of(rec):
        return [(FINDING, FINDING_KEYWORDS[FINDING], (0, 0, 10, 10))]

    whole, per_finding, caught = control_maps.reading_hva_maps([full, blind], findings_of, tmp_path, 64.0, S)
    assert set(whole) == {"img1", "img2"} and set(per_finding) == {("img1", FINDING), ("img2", FINDING)}
    v = per_finding["img1", FINDING]
    assert v.shape == (S, S) and v.max() == pytest.approx(1.0) and v.min() >= 0
    row, col = np.unravel_index(np.argmax(v), v.shape)
    assert abs(col - 17) <= 2 and abs(row - 47) <= 2  # the fixations' mean, (34, 93) px of 128 -> (17, 46.5)
    assert not per_finding["img2", FINDING].any() and whole["img2"].any()
    assert len(caught) == 1 and "img2" in str(caught[0].message)


def test_lung_dice_rows_score_the_cached_weight_free_mask_against_the_truth(monkeypatch, tmp_path):
    truth = np.zeros((128, 128), np.uint8)
    truth[:, :64] = 1
    monkeypatch.setattr("radgazegen.synthetic.load_lung_mask", lambda root, dicom_id: truth)
    monkeypatch.setattr("radgazegen.data.load_image", load)
    methods = control_maps.lung_methods()
    assert list(methods) == [control_maps.WEIGHT_FREE]
    half = np.zeros((S, S), np.uint8)
    half[:, : S // 4] = 1  # half of the true lung: Dice 2 * 0.25 / (0.25 + 0.5) = 2 / 3
    rows = control_maps.lung_dice_rows([reading("img1"), reading("img2")], methods,
                                       {"img1": half, "img2": truth[::2, ::2]}, tmp_path, (S, S))
    assert [r["dice"] for r in rows] == pytest.approx([2 / 3, 1.0])
    table = control_maps.dice_table(rows)
    assert table.loc[control_maps.WEIGHT_FREE, "count"] == 2 and table.loc[control_maps.WEIGHT_FREE, "min"] == pytest.approx(2 / 3)
    assert control_maps.weight_free_dice(rows) == pytest.approx(5 / 6)
    assert np.isnan(control_maps.weight_free_dice([]))


# --- localisation (chapter 02) -------------------------------------------------------------

def test_example_findings_keep_the_first_non_empty_map_of_each_finding():
    a, b, c = reading("img1"), reading("img2"), reading("img3")
    rows = localisation.finding_rows([a, b, c], lambda rec: [("A", (), None), ("B", (), None)])
    assert [(r.dicom_id, f[0]) for r, f in rows] == [("img1", "A"), ("img1", "B"), ("img2", "A"), ("img2", "B"),
                                                       ("img3", "A"), ("img3", "B")]
    maps = {("img1", "A"): np.zeros((4, 4)), ("img2", "A"): np.ones((4, 4)), ("img1", "B"): np.ones((4, 4)),
            ("img3", "A"): np.ones((4, 4))}
    picked = localisation.example_findings(rows, maps, 5)
    assert [(r.dicom_id, f[0]) for r, f in picked] == [("img1", "B"), ("img2", "A")]
    assert len(localisation.example_findings(rows, maps, 1)) == 1


def test_localisation_sweep_hits_the_box_under_the_gaze_and_misses_the_far_one(tmp_path):
    rec = reading("img1", fixations=((100.0, 100.0),) * 3)
    rows = [(rec, (FINDING, FINDING_KEYWORDS[FINDING], (90, 90, 110, 110))),  # under the gaze
            (rec, ("Edema", FINDING_KEYWORDS[FINDING], (0, 0, 10, 10)))]  # far from it
    sweep = localisation.localisation_sweep(rows, tmp_path, [32.0, 64.0], [0.2, 0.8], S)
    assert list(sweep.columns) == localisation.SWEEP_COLUMNS and len(sweep) == 2 * 2 * 2
    assert sweep[sweep.finding == FINDING].hit.all() and not sweep[sweep.finding == "Edema"].hit.any()
    near = sweep[sweep.finding == FINDING].set_index(["sigma_px", "lambda"]).iou
    assert near[32.0, 0.8] > 0 and (sweep.iou.between(0, 1)).all()
    summary = localisation.sweep_summary(sweep)
    assert summary.hit.tolist() == [0.5] * 4 and summary.index.names == ["sigma_px", "lambda"]
    with pytest.warns(gaze.EmptyHVAWarning, match="r-img2"):  # the chapter silences it: counted before the sweep
        empty = localisation.localisation_sweep([(reading("img2", keyword="nothing"), rows[0][1])], tmp_path, [64.0], [0.5], S)
    assert empty.empty and list(empty.columns) == localisation.SWEEP_COLUMNS


def test_agreement_at_setting_skips_boxless_and_empty_findings_and_feeds_the_glued_numbers():
    rec = reading("img1")
    v = np.zeros((S, S), np.float32)
    v[10:20, 10:20] = 1.0
    rows = [(rec, ("A", (), (20, 20, 40, 40))),  # box on 128 px -> (10, 10, 20, 20) on the grid: IoU 1
            (rec, ("B", (), None)), (rec, ("C", (), (0, 0, 8, 8))), (rec, ("D", (), (100, 100, 120, 120)))]
    maps = {("img1", "A"): v, ("img1", "B"): v, ("img1", "C"): np.zeros((S, S)), ("img1", "D"): v}
    at = localisation.agreement_at_setting(rows, maps, 0.5, (S, S))
    assert at.finding.tolist() == ["A", "D"] and at.hit.tolist() == [True, False]
    assert at.iou.tolist() == pytest.approx([1.0, 0.0])
    sweep = pd.DataFrame({"finding": ["A", "A", "D"], "iou": [0.1, 0.2, 0.3]})
    numbers = localisation.localisation_numbers(sweep, pd.DataFrame({"iou": [0.4, 0.7]}), at)
    assert numbers == {"n_finding_types": 2, "hit_at_setting": 0.5, "iou_at_setting": 0.5, "n_at_setting": 2,
                       "best_iou": 0.7}
    none = localisation.localisation_numbers(sweep.iloc[:0], pd.DataFrame({"iou": []}), at.iloc[:0])
    assert none["n_at_setting"] == 0 and np.isnan(none["hit_at_setting"]) and np.isnan(none["best_iou"])


# --- hypotheses (chapter 03) ---------------------------------------------------------------

def test_readings_by_split_and_training_labels_follow_the_split():
    split = pd.DataFrame({"dicom_id": ["a", "b", "c"], "split": ["train", "test", "train"],
                          "gaze_source": ["reflacx", "reflacx", "egd-cxr"], "reading_ids": ["ra", "rb", ""]})
    reflacx = [Record("reflacx", d, Path(d), (8, 8), reading_id=r) for d, r in (("a", "ra"), ("b", "rb"))]
    egd = [Record("egd-cxr", "c", Path("c"), (8, 8))]
    readings, reading_split = hypothesis_steps.readings_by_split(split, reflacx, egd)
    assert [r.dicom_id for r in readings] == ["a", "c", "b"] and reading_split == {"a": "train", "c": "train", "b": "test"}
    lt = [Record("mimic-cxr-lt", d, Path(d), (8, 8), labels={k: 1.0}, split=s)
          for d, k, s in (("x", "Edema", "train"), ("y", "Edema", "train"), ("b", "Edema", "train"),
                          ("z", FINDING, "train"), ("w", FINDING, "test"))]
    kept, lt_label, lt_record, bags = hypothesis_steps.training_labels(lt, split)
    assert [r.dicom_id for r in kept] == ["x", "y", "z"]  # "b" is a test image of the split, "w" not training
    assert lt_label == {"x": "Edema", "y": "Edema", "z": FINDING} and lt_record["z"] is kept[2]
    assert list(bags) == list(MIMIC_LT_CLASSES) and bags["Edema"] == ["x", "y"] and bags["Fracture"] == []


def test_training_radiographs_resize_once_per_image(monkeypatch):
    calls = []
    monkeypatch.setattr("radgazegen.data.load_image", lambda rec: calls.append(rec.dicom_id) or phantom(1))
    radiograph = hypothesis_steps.training_radiographs({"img1": reading("img1")}, (S, S))
    first = radiograph("img1")
    assert first.shape == (S, S) and first.dtype == np.uint8 and radiograph("img1") is first and calls == ["img1"]


def test_hypothesis_caches_are_keyed_by_their_parameters(tmp_path):
    hyp, mask = hypothesis_steps.hypothesis_caches(tmp_path, 64.0, S, 0.47, 100, 3, 5, 0, "features A")
    assert hyp.dir.name.startswith("hypothesis-") and mask.dir.name.startswith("gaze-mask-")
    params = json.loads((mask.dir / "params.json").read_text())["params"]
    assert params == {"sigma_px": 64.0, "reference_width_px": gaze.REFERENCE_WIDTH_PX, "size": S, "lambda": 0.47,
                      "dilate_px": 100, "iterations": 3}
    hyp2, mask2 = hypothesis_steps.hypothesis_caches(tmp_path, 64.0, S, 0.47, 100, 3, 5, 0, "features B")
    assert hyp2.dir != hyp.dir and mask2.dir == mask.dir  # the mask does not depend on the features
    assert hypothesis_steps.located((0, 0, 4, 4), np.pad(np.ones((2, 2)), ((0, 6), (0, 6)))) == 1.0
    assert hypothesis_steps.located((6, 6, 8, 8), np.pad(np.ones((2, 2)), ((0, 6), (0, 6)))) == 0.0
    assert np.isnan(hypothesis_steps.located(None, np.ones((8, 8))))


class MeanFeatures:
    """Features of ``(N, H, W)`` uint8 images: their mean and the mean of their left half, ``(N, 2)``."""
    name = "mean features"

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        return np.stack([images.mean(axis=(1, 2)), images[:, :, : images.shape[2] // 2].mean(axis=(1, 2))], axis=1) + 1.0


def test_select_for_readings_selects_stores_and_counts(tmp_path):
    rng = np.random.default_rng(0)
    images = {f"t{i}": rng.integers(0, 255, (S, S), dtype=np.uint8) for i in range(8)}
    lt_label = {f"t{i}": FINDING if i < 4 else "Edema" for i in range(8)}
    v = np.zeros((S, S), np.float32)
    v[8:24, 8:24] = 1.0

    def hva_maps(rec, finding, keys):  # r1 and r3 have gaze, r2 none
        return np.zeros((S, S), np.float32) if rec.dicom_id == "r2" else v

    truth = pd.DataFrame({"dicom_id": ["r1", "r2", "r3"], "label": [FINDING, FINDING, "Fracture"],
                          "xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1})
    readings = [reading("r1"), reading("r2"), reading("r3")]
    hyp, mask_cache = hypothesis_steps.hypothesis_caches(tmp_path, 64.0, S, 0.5, 0, 1, 3, 7, MeanFeatures.name)
    setting = hypothesis_steps.HypothesisSetting(0.5, 0, 1, 3, 7)
    located = lambda d, finding, mask: 1.0 if d == "t0" else 0.0  # noqa: E731

    def run():
        return hypothesis_steps.select_for_readings(readings, {"r1": "train", "r2": "test", "r3": "test"}, truth,
                                                    hva_maps, lt_label, images.__getitem__, MeanFeatures(), located, hyp,
                                                    mask_cache, setting)

    rows, selections, skipped = run()
    # r1: a selection; r2: an empty map; r3: Fracture has no training image (bag too small)
    assert skipped == {"empty HVA map": 1, "bag too small": 1} and len(rows) == 1 and list(selections) == [("r1", FINDING)]
    row = rows[0]
    bag = row["bag"].split("|")
    assert len(bag) == 3 and all(lt_label[d] == FINDING for d in bag) and row["selected"] in bag
    assert row["split"] == "train" and row["mixed_chance"] == pytest.approx(1 / 3) and row["features"] == MeanFeatures.name
    assert row["located_chance"] == pytest.approx(np.mean([d == "t0" for d in bag]))
    assert row["located"] == float(row["selected"] == "t0")
    stored = cv2.imread(row["control_path"], cv2.IMREAD_UNCHANGED)
    sel = selections["r1", FINDING][3]
    assert np.array_equal(stored, sel.hypotheses[sel.best]) and not stored[30:].any()  # kept only under the mask
    assert Path(row["mask_path"]).exists() and row["score"] == pytest.approx(float(sel.scores.max()))
    again, _, _ = run()
    assert again == rows  # the bags' random streams depend on the seed, the reading and the finding only


def selection(finding: str, best: int, scores=(0.9, 0.5)) -> Selection:
    bag = [f"{finding}-{j}" for j in range(len(scores))]
    return Selection(finding, bag, np.array(scores), best, "f", np.zeros((len(scores), S, S), np.uint8))


def test_examples_rates_and_the_released_comparison():
    sels = {("r1", "A"): ("rec1", None, None, selection("A", 0)), ("r2", "A"): ("rec2", None, None, selection("A", 1)),
            ("r2", "B"): ("rec2", None, None, selection("B", 0))}
    ex = hypothesis_steps.hypothesis_examples(sels, 5)
    assert [e[0] for e in ex] == ["rec1", "rec2"] and [e[3].finding for e in ex] == ["A", "B"]
    table = pd.DataFrame({"finding": ["A", "A", "B"], "located": [1.0, 0.0, 1.0], "located_chance": [0.5, 0.5, 0.2],
                          "mixed_right": [1.0, 1.0, 0.0], "mixed_chance": [0.2, 0.2, 0.2]})
    overall, per_finding = hypothesis_steps.selection_rates(table)
    assert overall["located"] == pytest.approx(2 / 3) and overall["mixed_right"] == pytest.approx(2 / 3)
    assert per_finding.index.tolist() == ["A", "B", "all findings"] and per_finding["n"].tolist() == [2, 1, 3]
    assert per_finding.loc["A", "located"] == 0.5 and list(per_finding.columns) == ["n", *hypothesis_steps.RATE_COLUMNS]
    assert hypothesis_steps.selection_rates(table.iloc[:0]) == (None, None)


def test_released_comparison_compares_the_two_picks():
    mask = np.zeros((S, S), np.uint8)
    mask[:, : S // 2] = 255
    v = mask / 255.0
    images = {"A-0": np.full((S, S), 250, np.uint8), "A-1": np.full((S, S), 10, np.uint8)}
    sels = {("r1", "A"): ("rec", v, mask, selection("A", 1))}
    located = lambda d, finding, m: 1.0 if d == "A-1" else 0.0  # noqa: E731
    table = hypothesis_steps.released_comparison(sels, images.__getitem__, MeanFeatures(), located)
    # the released rule keeps the largest feature MSE to the heat map (values 0 / 255): A-1, as the paper's pick here
    assert table.to_dict("records") == [{"finding": "A", "same pick": 1.0, "paper's pick located": 1.0,
                                         "released pick located": 1.0}]


# --- figures (chapters 01-03) --------------------------------------------------------------

def test_figures_draw_one_panel_per_item_and_none_for_nothing(monkeypatch):
    monkeypatch.setattr("radgazegen.data.load_image", load)
    assert controls_figures.readings_figure([], [], True) is None
    recs = [reading("img1"), reading("img2"), reading("img3")]
    recs[0].boxes = [Box("Pneumothorax", 10, 10, 50, 50)]
    fig = controls_figures.readings_figure(recs, ["a", "b", "c"], True)
    axes = fig.get_axes()
    assert len(axes) == 4 and [ax.get_title() for ax in axes[:3]] == ["a", "b", "c"] and not axes[3].axison
    plt.close(fig)
    lung = np.zeros((S, S), np.uint8)
    maps = {k: {"img1": lung} for k in ("canny", "sobel", "gl", "lung")}
    v = np.zeros((S, S), np.float32)
    v[5:9, 5:9] = 1.0
    figs = controls_figures.control_figures([(recs[0], ("A", (), (0, 0, 64, 64)))], maps, {("img1", "A"): v}, 0.47,
                                            (S, S), True)
    assert list(figs) == ["fig-02-radiomics", "fig-02-gaze"]
    assert [len(f.get_axes()) >= n for f, n in zip(figs.values(), (4, 3))] == [True, True]
    for f in figs.values():
        plt.close(f)
    assert controls_figures.control_figures([], maps, {}, 0.47, (S, S), True) == {"fig-02-radiomics": None, "fig-02-gaze": None}
    assert controls_figures.hypothesis_gaze_figure([], (S, S), True) is None
    assert controls_figures.bags_figure([], None, None, True) is None


def test_sweep_and_rates_figures_plot_the_numbers_they_are_given():
    summary = pd.DataFrame({"sigma_px": [32.0, 32.0, 64.0, 64.0], "lambda": [0.2, 0.8] * 2,
                            "hit": [1.0, 0.5, 0.9, 0.4], "iou": [0.1, 0.3, 0.2, 0.4]}).set_index(["sigma_px", "lambda"])
    fig = controls_figures.sweep_figure(summary)
    left, right = fig.get_axes()
    assert [list(line.get_ydata()) for line in left.get_lines()] == [[1.0, 0.5], [0.9, 0.4]]
    assert [list(line.get_ydata()) for line in right.get_lines()] == [[0.1, 0.3], [0.2, 0.4]]
    plt.close(fig)
    overall = pd.Series({"located": 0.8, "located_chance": 0.3, "mixed_right": 0.6, "mixed_chance": 0.2})
    fig = controls_figures.rates_figure(overall)
    heights = [p.get_height() for p in fig.get_axes()[0].patches]
    assert heights == pytest.approx([0.8, 0.6, 0.3, 0.2])
    plt.close(fig)


def test_bags_figure_frames_the_selected_hypothesis(monkeypatch):
    sel = selection("A", 1)
    boxes = []
    fig = controls_figures.bags_figure([("rec", None, None, sel)], lambda d: np.zeros((S, S), np.uint8),
                                       lambda d, f: boxes.append((d, f)) or (0, 0, 8, 8), True)
    assert boxes == [("A-0", "A"), ("A-1", "A")]
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
    assert "D = 0.900" in titles and "D = 0.500" in titles
    plt.close(fig)
