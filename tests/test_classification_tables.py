"""The classification tables' package code (chapters 10 and 11): generation over a held-out set
with the gaze picked from the prompt, the long tail's top-up plan, AUC and long-tail rows with
their evidence, the top-up figure. Small synthetic inputs; no run directory."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from radgazegen.core.vocabulary import CANNY, CONTROLS, HVA, SEGMENTATION
from radgazegen import generation
from radgazegen.generation import held_out, methods, read_generation, top_up
from radgazegen.metrics import classification, tables

CATALOGUE = methods.catalogue()
SD, RG, RAD_CN = CATALOGUE[methods.SD], CATALOGUE[methods.RADGAZEGEN], CATALOGUE[methods.RAD_CN]


class FakeSampler:
    """Records each ``sample`` call; image ``i`` of a call is filled with its seed (mod 256)."""

    def __init__(self, size: int = 4):
        self.calls, self.size = [], size

    def sample(self, method, prompts, conditioning, seeds, steps, guidance, negative_prompt=None, resolution=512):
        self.calls.append(dict(method=method.name, prompts=list(prompts), seeds=list(seeds), negative=negative_prompt,
                               rows={k: v.clone() for k, v in conditioning.items()}, steps=steps, guidance=guidance))
        return np.stack([np.full((resolution, resolution), s % 256, np.uint8) for s in seeds])


# ---------------------------------------------------------------- held-out generation (chapter 10)

def test_replicate_seeds_are_a_thousand_apart():
    assert generation.replicate_seeds(7, 0, 3) == [7, 8, 9]
    assert generation.replicate_seeds(7, 2, 3) == [2007, 2008, 2009]


def test_gaze_groups_split_a_gaze_method_and_look_up_rad_cn_only_then():
    gazed = np.array([True, False, True, False, False])
    [(m, idx)] = held_out.gaze_groups(SD, gazed, {})  # no Rad-CN needed for a text method
    assert m is SD and idx.tolist() == [0, 1, 2, 3, 4]
    (m1, i1), (m2, i2) = held_out.gaze_groups(RG, gazed, CATALOGUE)
    assert (m1, m2) == (RG, RAD_CN)
    assert i1.tolist() == [0, 2] and i2.tolist() == [1, 3, 4]
    with pytest.raises(KeyError):
        held_out.gaze_groups(RG, gazed, {})


def test_sample_held_out_puts_each_group_back_in_image_order():
    gazed = np.array([False, True, False, True])
    cond = {CANNY: torch.arange(4, dtype=torch.float32)[:, None, None, None].repeat(1, 3, 2, 2)}
    sampler = FakeSampler()
    seeds = generation.replicate_seeds(10, 1, 4)
    images = held_out.sample_held_out(sampler, RG, list("abcd"), cond, gazed, CATALOGUE, seeds, steps=2,
                                      guidance=3.0, negative_prompt="", resolution=4)
    assert images.shape == (4, 4, 4) and images.dtype == np.uint8
    assert images[:, 0, 0].tolist() == [s % 256 for s in seeds]  # image i from seed i, whichever group sampled it
    first, second = sampler.calls
    assert (first["method"], first["prompts"], first["seeds"]) == (RG.name, ["b", "d"], [1011, 1013])
    assert (second["method"], second["prompts"], second["seeds"]) == (RAD_CN.name, ["a", "c"], [1010, 1012])
    assert first["rows"][CANNY][:, 0, 0, 0].tolist() == [1.0, 3.0]  # the group's rows of every control
    assert first["negative"] is None and first["steps"] == 2


def test_sample_held_out_skips_an_empty_group():
    sampler = FakeSampler()
    cond = {CANNY: torch.zeros(2, 3, 2, 2)}
    held_out.sample_held_out(sampler, RG, ["a", "b"], cond, np.array([True, True]), CATALOGUE, [0, 1], 1, 1.0,
                             negative_prompt="blurry", resolution=4)
    assert [c["method"] for c in sampler.calls] == [RG.name]
    assert sampler.calls[0]["negative"] == "blurry"


def test_generate_held_out_writes_every_replicate_of_every_method(tmp_path):
    sampler = FakeSampler()
    cond = {CANNY: torch.zeros(3, 3, 2, 2)}
    out = held_out.generate_held_out(sampler, [SD, None, RG], CATALOGUE, ["p0", "p1", "p2"], cond,
                                     np.array([True, False, True]), ["d0", "d1", "d2"], tmp_path, n_replicates=2,
                                     seed=5, steps=1, guidance=1.0, resolution=4)
    assert list(out) == [SD.name, RG.name] and [len(v) for v in out.values()] == [2, 2]
    assert out[SD.name][1][:, 0, 0].tolist() == [s % 256 for s in (1005, 1006, 1007)]
    images, manifest = read_generation(tmp_path / RG.folder)
    assert len(images) == 6
    assert manifest.replicate.tolist() == [0, 0, 0, 1, 1, 1]
    assert manifest.name.tolist() == ["d0", "d1", "d2"] * 2 and set(manifest.model) == {RG.name}


def _png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def test_held_out_conditioning_picks_the_gaze_from_the_report(tmp_path):
    rng = np.random.default_rng(0)
    paths = [_png(tmp_path / f"x{i}.png", rng.integers(0, 256, (64, 48), dtype=np.uint8)) for i in range(2)]
    hva_map = _png(tmp_path / "hyp.png", np.full((16, 16), 255, np.uint8))
    hyps = pd.DataFrame({"finding": ["Cardiomegaly"], "control_path": [str(hva_map)]})
    cond, gazed = held_out.held_out_conditioning(paths, ["Cardiomegaly is seen.", "No cardiomegaly."], hyps, 8)
    assert gazed.tolist() == [True, False]
    assert cond[HVA].shape == (2, 3, 8, 8)
    assert float(cond[HVA][0].min()) == 1.0 and float(cond[HVA][1].max()) == 0.0
    assert {CANNY, SEGMENTATION} <= set(cond) and all(float(v.min()) >= 0 and float(v.max()) <= 1 for v in cond.values())


def test_chexpert_test_records_keeps_frontal_ones_and_wants_reports(monkeypatch):
    import radgazegen.data

    recs = [SimpleNamespace(image_path=Path(f"p/view{i}_{v}.jpg"), report=r)
            for i, (v, r) in enumerate([("frontal", "a"), ("lateral", ""), ("frontal", "b"), ("frontal", "c")])]
    monkeypatch.setattr(radgazegen.data, "read_chexpert", lambda root: recs)
    assert [r.report for r in held_out.chexpert_test_records("root", 2)] == ["a", "b"]
    assert len(held_out.chexpert_test_records("root", -1)) == 3
    recs[2].report = ""
    with pytest.raises(ValueError, match="no report for 1 image"):
        held_out.chexpert_test_records("root")


# ---------------------------------------------------------------- Table 3

PATHS = (("A.", "Alpha", "Alpha"), ("B.", "Beta", "Beta"), ("C.", "Gamma", "Gamma"))
NAMES = [a for a, _, _ in PATHS]


def test_table3_labels_count_only_certain_positives():
    recs = [SimpleNamespace(labels={"Alpha": 1.0, "Beta": -1.0}), SimpleNamespace(labels={"Beta": 1.0, "Gamma": 0.0})]
    assert classification.table3_labels(recs, PATHS).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def _truth_scores():
    truth = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1]], float)  # C. has no negative
    good = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.5], [0.8, 0.7, 0.5], [0.1, 0.3, 0.5]])
    bad = good.copy()
    bad[:, 0] = 1 - bad[:, 0]
    return truth, good, bad


def test_auc_row_is_percent_with_an_average_over_defined_pathologies():
    truth, good, bad = _truth_scores()
    row = classification.auc_row(truth, good, NAMES)
    assert row.index.tolist() == [*NAMES, "Avg."]
    assert row["A."] == 100.0 and row["B."] == 100.0 and np.isnan(row["C."]) and row["Avg."] == 100.0
    assert classification.auc_row(truth, bad, NAMES)["Avg."] == 50.0  # (0 + 100) / 2


def _build_table3(rows, classify=lambda x: x):
    truth = _truth_scores()[0]
    return tables.build(list(rows), {c: c for c in [*NAMES, "Avg."]}, lambda row, column: row,
                        classification.auc_measure(classify, truth, NAMES), rows)


def test_table3_means_and_spreads_over_replicates_through_the_table_builder():
    truth, good, bad = _truth_scores()
    table = _build_table3({"real": [good], "gen": [good, bad]})
    assert table.mean.index.tolist() == ["real", "gen"] and table.mean.columns.tolist() == [*NAMES, "Avg."]
    assert table.mean.loc["gen", "A."] == 50.0 and table.std.loc["gen", "A."] == pytest.approx(np.std([100, 0], ddof=1))
    assert (table.std.loc["real"] == 0.0).all() and np.isnan(table.mean.loc["real", "C."])
    assert table.mean.loc["gen", "Avg."] == pytest.approx(np.mean([100.0, 50.0]))  # per replicate (A, B) then over them


def test_table3_cells_are_sklearn_aucs_over_replicates():
    from sklearn.metrics import roc_auc_score

    truth, good, bad = _truth_scores()
    noisy = [np.random.default_rng(r).random(good.shape) for r in range(3)]
    table = _build_table3({"noisy": noisy})
    for j, name in enumerate(NAMES[:2]):  # hand-computed: AUC (%) per replicate, mean and ddof-1 std
        aucs = [100 * roc_auc_score(truth[:, j], s[:, j]) for s in noisy]
        assert table.mean.loc["noisy", name] == pytest.approx(np.mean(aucs))
        assert table.std.loc["noisy", name] == pytest.approx(np.std(aucs, ddof=1))
    avg = [np.mean([100 * roc_auc_score(truth[:, j], s[:, j]) for j in (0, 1)]) for s in noisy]
    assert table.mean.loc["noisy", "Avg."] == pytest.approx(np.mean(avg))  # over the defined pathologies only
    assert np.isnan(table.mean.loc["noisy", "C."]) and np.isnan(table.std.loc["noisy", "C."])
    ev = table.cells[("noisy", "A.")]
    assert (ev.kind, ev.better, ev.statistic, ev.scale) == ("labels", "higher", "auc", 100.0)
    assert ev.truth.tolist() == truth[:, 0].tolist()


def test_table3_evidence_covers_defined_pathologies_and_recomputes_the_cell():
    truth, good, bad = _truth_scores()
    table = _build_table3({"gen": [good, bad]})
    assert sorted(table.cells) == [("gen", "A."), ("gen", "B.")]  # C. has one class only; "Avg." is no cell
    assert table.cells[("gen", "A.")].value() == pytest.approx(table.mean.loc["gen", "A."])
    assert table.cells[("gen", "B.")].shape == (2, 4)


def test_table3_scores_each_replicate_once():
    truth, good, bad = _truth_scores()
    seen = []

    def classify(x):
        seen.append(x.shape)
        return x
    _build_table3({"r": [good, bad]}, classify)
    assert seen == [good.shape, bad.shape]  # once per replicate, not once per column
    clf = classification.Classifier("c", lambda x: x * 2)
    assert clf(np.array([1, 2])).tolist() == [2, 4] and clf.losses is None


def test_pathologies_won_counts_defined_columns():
    table = pd.DataFrame({"A.": [80.0, 70.0], "B.": [60.0, 65.0], "C.": [np.nan, 50.0]}, index=["rg", "sd"])
    assert classification.pathologies_won(table, "rg", "sd", NAMES) == (1, 2)
    assert classification.pathologies_won(table, "absent", "sd", NAMES) == (0, 0)


# ---------------------------------------------------------------- the long tail (chapter 11)

CLASSES = ["a", "b", "c", "d"]
GROUPS = {"Head": ["a"], "Medium": ["b", "c"], "Tail": ["d"]}


def _rec(i: int, k: str, split: str = "train"):
    return SimpleNamespace(dicom_id=f"id{i}", labels={c: float(c == k) for c in CLASSES}, split=split,
                           image_path=Path(f"id{i}.png"))


def test_class_counts_and_need():
    recs = [_rec(0, "a"), _rec(1, "a"), _rec(2, "c")]
    assert top_up.lt_class(recs[2], CLASSES) == 2
    counts = top_up.class_counts(recs, CLASSES)
    assert counts.index.tolist() == CLASSES and counts.tolist() == [2, 0, 1, 0]
    assert top_up.top_up_need(counts, 2, topped=("b", "c", "d")) == {"b": 2, "c": 1, "d": 2}


def test_top_up_plan_draws_prompt_item_and_hypothesis_in_that_order():
    recs = [_rec(0, "b"), _rec(1, "b"), _rec(2, "c")]
    reports = {"id0": "b report 0", "id1": "b report 1", "id2": ""}
    pool = ["item0", "item1", "item2"]
    hyps = pd.DataFrame({"finding": ["b", "x", "b"], "control_path": ["h0", "h1", "h2"]})
    plan = top_up.top_up_plan({"b": 2, "c": 1}, recs, CLASSES, reports, pool, hyps, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    expected = []
    for k, texts, h in (("b", ["b report 0", "b report 1"], ["h0", "h2"]), ("b", ["b report 0", "b report 1"], ["h0", "h2"]),
                        ("c", ["c."], ["h0", "h1", "h2"])):  # c: no report text, no hypothesis of its own
        expected.append((k, texts[rng.integers(len(texts))], pool[rng.integers(len(pool))], Path(h[rng.integers(len(h))])))
    assert plan == expected


def test_plan_batch_of_an_empty_plan_is_none_and_sample_top_ups_then_adds_nothing(tmp_path):
    assert top_up.plan_batch([], 8) is None
    augment = top_up.sample_top_ups(None, [SD, None, RG], None, [], CLASSES, 0, 1, 1.0, 8, tmp_path)
    assert list(augment) == ["no augmentation", SD.name, RG.name]
    assert all(x.shape == (0, 8, 8) and y.shape == (0,) for x, y in augment.values())


def test_plan_batch_and_sample_top_ups(tmp_path):
    rng = np.random.default_rng(1)
    controls = {c: _png(tmp_path / f"{c}.png", rng.integers(0, 3 if c == SEGMENTATION else 256, (16, 16), dtype=np.uint8))
                for c in CONTROLS if c != HVA}
    item = SimpleNamespace(image_path=_png(tmp_path / "im.png", rng.integers(0, 256, (16, 16), dtype=np.uint8)),
                           controls=controls)
    hpath = _png(tmp_path / "hva.png", np.zeros((16, 16), np.uint8))
    plan = [("b", "prompt b", item, hpath), ("d", "prompt d", item, hpath)]
    batch = top_up.plan_batch(plan, 8)
    assert batch.prompts == ["prompt b", "prompt d"] and float(batch.conditioning[HVA].max()) == 0.0
    sampler = FakeSampler()
    augment = top_up.sample_top_ups(sampler, [RG], batch, plan, CLASSES, 3, 2, 1.0, 8, tmp_path / "gen")
    images, labels = augment[RG.name]
    assert images[:, 0, 0].tolist() == [3, 4] and labels.tolist() == [1, 3]
    _, manifest = read_generation(tmp_path / "gen" / RG.folder)
    assert manifest["class"].tolist() == ["b", "d"] and manifest.seed.tolist() == [3, 4]


def test_long_tail_arrays_read_images_and_classes(tmp_path):
    recs = [_rec(i, k) for i, k in enumerate("dab")]
    for r in recs:
        r.image_path = _png(tmp_path / r.image_path, np.full((20, 10), 7, np.uint8))
    x, y = classification.long_tail_arrays(recs, CLASSES, 8)
    assert x.shape == (3, 8, 8) and x.dtype == np.uint8 and y.tolist() == [3, 0, 1]


def test_long_tail_row_and_evidence_agree():
    truth = {"balanced-test": np.array([0, 1, 2, 3, 3]), "test": np.array([0, 0, 0, 1, 3])}
    pred = {"balanced-test": np.array([0, 2, 2, 3, 0]), "test": np.array([0, 0, 1, 1, 3])}
    row = classification.long_tail_row(truth, pred, CLASSES, GROUPS)
    assert list(row) == ["Head", "Medium", "Tail", "Avg", "mF1", "bAcc"]
    assert row["Head"] == 1.0 and row["Medium"] == 0.5 and row["Tail"] == 0.5 and row["Avg"] == pytest.approx(0.625)
    assert row["bAcc"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    cells = classification.long_tail_evidence(truth, pred, CLASSES, GROUPS)
    assert sorted(cells) == sorted(row)
    for col, value in row.items():
        assert cells[col].value() == pytest.approx(value), col


def test_table4_trains_one_classifier_per_row_in_order_on_real_plus_generated_images(monkeypatch):
    from radgazegen import standins

    trained = []

    def train_classifier(arch, x, y, **kw):
        trained.append((len(x), kw["seed"]))
        return len(x), None  # the "model": how many images it saw

    def predict(model, x, device):  # predicts class 0 everywhere, class 1 too once it saw 5 images
        p = np.zeros((len(x), len(CLASSES)), np.float32)
        p[:, 1 if model >= 5 else 0] = 1.0
        if model >= 5:
            p[0, 0] = 2.0
        return p
    monkeypatch.setattr(standins, "train_classifier", train_classifier)
    monkeypatch.setattr(standins, "predict", predict)
    real = (np.zeros((3, 4, 4), np.uint8), np.array([0, 1, 2]))
    tests = {"balanced-test": (np.zeros((4, 4, 4), np.uint8), np.array([0, 1, 2, 3])),
             "test": (np.zeros((4, 4, 4), np.uint8), np.array([0, 1, 1, 3]))}
    augment = {"no augmentation": (np.zeros((0, 4, 4), np.uint8), np.zeros(0, int)),
               "G": (np.zeros((2, 4, 4), np.uint8), np.array([1, 1]))}
    columns = classification.long_tail_columns(GROUPS)
    table = tables.build(list(augment), {c: c for c in columns}, lambda row, column: row,
                         classification.long_tail_measure(real, tests, CLASSES, GROUPS, "cnn", 8, 1, 2, 1e-3, seed=7),
                         {n: [xy] for n, xy in augment.items()})
    assert trained == [(3, 7), (5, 7)]  # rows in order, once each, real + the row's generated images
    assert table.mean.columns.tolist() == columns == ["Head", "Medium", "Tail", "Avg", "mF1", "bAcc"]
    for name, model in (("no augmentation", 3), ("G", 5)):
        pred = {s: predict(model, x, "cpu").argmax(1) for s, (x, _) in tests.items()}
        truth = {s: y for s, (_, y) in tests.items()}
        row = classification.long_tail_row(truth, pred, CLASSES, GROUPS)
        for col in columns:
            assert table.mean.loc[name, col] == pytest.approx(row[col], nan_ok=True), (name, col)
            assert table.cells[(name, col)].value() == pytest.approx(row[col], nan_ok=True), (name, col)
            assert table.std.loc[name, col] == 0.0 or np.isnan(row[col])
    assert table.mean.loc["G", "Medium"] > table.mean.loc["no augmentation", "Medium"]


def test_baselines_beaten():
    table = pd.DataFrame({"Head": [0.1, 0.5, 0.2, 0.9], "bAcc": [0.3, 0.4, 0.5, 0.1]}, index=["no augmentation", "RG", "x", "y"])
    ahead, others = classification.baselines_beaten(table, "RG", ["Head", "bAcc"])
    assert others == ["x", "y"] and ahead == {"Head": 1, "bAcc": 1}
    assert classification.baselines_beaten(table.drop("RG"), "RG", ["Head"])[0] == {"Head": 0}


def test_top_up_figure_stacks_generated_on_real():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from radgazegen.figures.long_tail import top_up_figure

    counts = pd.Series([5, 1, 0, 2], index=CLASSES)
    fig = top_up_figure(counts, {"b": 1, "c": 2, "d": 0}, CLASSES)
    ax = fig.axes[0]
    real, generated = ax.containers
    assert [p.get_height() for p in real] == [5, 1, 0, 2]
    assert [p.get_height() for p in generated] == [0, 1, 2, 0] and [p.get_y() for p in generated] == [5, 1, 0, 2]
    assert ax.get_yscale() == "symlog" and [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    plt.close(fig)
