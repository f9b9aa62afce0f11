"""The results tables' shared builder (radgazegen.metrics.tables) and the helpers chapters 08, 09
and 12 call (fidelity_table, clip_scorer, figures.tables), on tiny fake registries and arrays."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from radgazegen.core.artifacts import Run
from radgazegen.core.intervals import Evidence, load_evidence
from radgazegen.core.vocabulary import CANNY, GL, HVA, SEGMENTATION, SOBEL
from radgazegen.generation import methods
from radgazegen.metrics import evaluation, fidelity_table, tables
from radgazegen.metrics.clip_scorer import ClipColumn


def images(value: int, n: int = 3, size: int = 4) -> np.ndarray:
    return np.full((n, size, size), value, np.uint8)


def brightness(x: np.ndarray) -> np.ndarray:
    """(N,) mean intensity per image."""
    return x.reshape(len(x), -1).mean(axis=1).astype(np.float64)


def test_build_measures_each_cell_with_its_method_and_leaves_the_others_empty():
    fake = {"a": [images(10), images(20)], "b": [images(100)], "c": [images(7)]}
    calls = []

    def method_of(row, key):
        calls.append((row, key))
        return {("A", 1): "a", ("A", 2): "b", ("B", 1): None, ("B", 2): "missing"}[(row, key)]

    table = tables.build(["A", "B"], {"one": 1, "two": 2}, method_of,
                         tables.items_measure({1: brightness, 2: lambda x: 2 * brightness(x)}), fake)
    assert calls == [("A", 1), ("A", 2), ("B", 1), ("B", 2)]  # row by row, columns in order
    assert list(table.mean.index) == ["A", "B"] and list(table.mean.columns) == ["one", "two"]
    assert table.mean.loc["A", "one"] == pytest.approx(15.0)  # mean over replicates of the per-replicate means
    assert table.std.loc["A", "one"] == pytest.approx(np.std([10, 20], ddof=1))
    assert table.mean.loc["A", "two"] == pytest.approx(200.0) and table.std.loc["A", "two"] == 0.0
    assert table.mean.loc["B"].isna().all() and table.std.loc["B"].isna().all()
    assert set(table.cells) == {("A", "one"), ("A", "two")}
    ev = table.cells[("A", "one")]
    assert ev.kind == "mean" and ev.better == "higher" and ev.values.shape == (2, 3)
    assert ev.value() == pytest.approx(table.mean.loc["A", "one"])


def test_build_accepts_methods_and_reads_their_names():
    registry = methods.catalogue()
    canny_cn = registry.single(methods.SINGLE_CONTROLNET, CANNY)
    table = tables.build([methods.SINGLE_CONTROLNET], {"Canny": CANNY},
                         lambda r, c: registry.single(r, c), tables.items_measure({CANNY: brightness}),
                         {canny_cn.name: [images(5)]})
    assert table.mean.loc[methods.SINGLE_CONTROLNET, "Canny"] == pytest.approx(5.0)


class FakeFID:
    """``fid(x)``: the mean intensity; ``features(x)``: ``(N, 2)`` per-image features."""

    def __call__(self, x):
        return float(x.mean())

    def features(self, x):
        b = brightness(x)
        return np.stack([b, b / 2], axis=1)


def test_build_keeps_a_cell_without_evidence_in_the_table_but_not_among_the_resampled_cells():
    def measure(replicates, key):
        m = float(np.mean([x.mean() for x in replicates]))
        return (m, 0.0, None) if key == "avg" else (m, 0.0, Evidence("mean", "higher", values=np.ones((1, 3))))

    table = tables.build(["A"], {"one": "one", "Avg.": "avg"}, lambda r, k: "a", measure, {"a": [images(4)]})
    assert table.mean.loc["A", "Avg."] == pytest.approx(4.0) and table.mean.loc["A", "one"] == pytest.approx(4.0)
    assert set(table.cells) == {("A", "one")}


def test_per_row_computes_each_row_once_and_reads_its_columns():
    computed = []

    def compute(replicates):
        computed.append(len(replicates))
        v = float(replicates[0].mean())
        return {"x": (v, 0.0, None), "2x": (2 * v, 0.0, Evidence("mean", "higher", values=np.full((1, 3), 2 * v)))}

    table = tables.build(["A", "B"], {"x": "x", "2x": "2x"}, lambda r, k: r.lower(), tables.per_row(compute),
                         {"a": [images(1)], "b": [images(3), images(3)]})
    assert computed == [1, 2]  # once per row, not once per cell
    assert table.mean.loc["B", "2x"] == pytest.approx(6.0) and table.mean.loc["A", "x"] == pytest.approx(1.0)
    assert set(table.cells) == {("A", "2x"), ("B", "2x")}


def test_fid_measure_keeps_each_replicates_features_against_the_real_ones():
    fid, real = FakeFID(), np.zeros((3, 2))
    m, s, ev = tables.fid_measure(fid, real)([images(2), images(4)], "any key")
    assert (m, s) == pytest.approx((3.0, np.std([2, 4], ddof=1)))
    assert ev.kind == "fid" and ev.better == "lower" and ev.features.shape == (2, 3, 2)
    np.testing.assert_array_equal(ev.features[1][:, 0], [4, 4, 4])
    assert ev.real is real


def test_by_column_sends_each_column_to_its_measure():
    fid = FakeFID()
    measure = tables.by_column({"FID": tables.fid_measure(fid, np.zeros((3, 2))),
                                "B": tables.items_measure({"B": brightness}, better="lower")})
    table = tables.build(["m"], {"FID": "FID", "B": "B"}, lambda r, c: r, measure, {"m": [images(8)]})
    assert table.cells[("m", "FID")].kind == "fid"
    assert table.cells[("m", "B")].kind == "mean" and table.cells[("m", "B")].better == "lower"
    assert table.mean.loc["m"].tolist() == [8.0, 8.0]


def test_table_save_writes_the_result_and_its_evidence(tmp_path):
    run = Run(tmp_path)
    table = tables.build(["A"], {"x": 0}, lambda r, c: "a", tables.items_measure({0: brightness}),
                         {"a": [images(1), images(3)]})
    table.save(run, "table5", {"profile": "test"})
    mean, std, info = evaluation.load_result(run, "table5")
    assert mean.loc["A", "x"] == pytest.approx(2.0) and std.loc["A", "x"] == pytest.approx(math.sqrt(2))
    assert info == {"profile": "test"}
    back = load_evidence(run.evidence_path("table5"))
    np.testing.assert_array_equal(back[("A", "x")].values, table.cells[("A", "x")].values)


def test_table1_cells_follow_the_chapters_reading_of_a_column():
    reg = methods.catalogue()
    t2i = tables.table1_method(reg, methods.T2I_ADAPTER, SOBEL)
    assert t2i.family == methods.T2I_ADAPTER and t2i.controls == (SOBEL,)
    multi = tables.table1_method(reg, methods.MULTI_CONTROLNET, GL)
    assert multi is not None and set(multi.controls) == {GL, HVA}
    rg = tables.table1_method(reg, methods.RADGAZEGEN, CANNY)
    assert rg.family == methods.RADGAZEGEN and set(rg.controls) == {CANNY, HVA}
    assert tables.table1_method(reg, methods.RADGAZEGEN, HVA) is reg[methods.RADGAZEGEN]
    # Table 2: the families other than the single-control baselines as they are, all their controls
    assert tables.table2_method(reg, methods.RADGAZEGEN, CANNY) is reg[methods.RADGAZEGEN]
    assert tables.table2_method(reg, methods.SINGLE_CONTROLNET, SEGMENTATION).controls == (SEGMENTATION,)


def test_rg_wins_counts_columns_above_both_sd_and_controlnet():
    frame = pd.DataFrame({"a": [3, 1, 2], "b": [1, 2, 0], "c": [5, 4, 6], "d": [9, 0, 0]},
                         index=[methods.RADGAZEGEN, methods.SD, methods.SINGLE_CONTROLNET])
    assert tables.rg_wins(frame, ["a", "b", "c"]) == 1  # a only; d is not a table column
    assert tables.rg_wins(frame, ["a", "b", "c", "d"]) == 2
    assert tables.rg_wins(frame.drop(index=methods.SD), ["a"]) == 0


def test_ablation_summary_counts_the_components_the_full_model_beats():
    rows = [methods.RAD_CN, methods.HVA_CN, "map1", "map2", "map3", methods.RADGAZEGEN]
    mean = pd.DataFrame({"FID": [5.0, 4.0, 3.0, 6.0, np.nan, 3.5], "SSIM": [0.1, 0.5, 0.2, 0.3, np.nan, 0.4],
                         "PSNR": [10.0, 11.0, 12.0, 9.0, np.nan, 13.0]}, index=rows)
    s = tables.ablation_summary(mean, rows[2:-1])
    assert s == {"n_parts": 4, "full_fid": 3.5, "full_ssim": 0.4, "full_psnr": 13.0, "beats_fid": 3,
                 "beats_ssim": 3, "beats_psnr": 4, "n_with_map": 2, "map_helps_fid": 1}
    assert list(s) == ["n_parts", "full_fid", "full_ssim", "full_psnr", "beats_fid", "beats_ssim", "beats_psnr",
                       "n_with_map", "map_helps_fid"]


def test_control_scorer_scores_a_perfect_segmentation_one_and_a_map_against_itself_one():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2, 32, 32), dtype=np.uint8)
    from radgazegen import controls as filters

    canny = np.stack([filters.radiomics_maps(x[i:i + 1], size=32)[CANNY][0] for i in range(2)])
    masks = evaluation.lung_masks(x)
    score = tables.control_scorer({CANNY: canny, SEGMENTATION: masks})
    np.testing.assert_allclose(score(x, CANNY), [1.0, 1.0], atol=1e-6)
    iou = score(x, SEGMENTATION)
    assert iou.shape == (2,) and np.all((iou == 1.0) | np.isnan(iou))


def test_fidelity_rows_keep_sd_rad_cn_hva_cn_first_and_only_generated_methods():
    reg = methods.catalogue()
    rows = [methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET, methods.MULTI_CONTROLNET, methods.RADGAZEGEN]
    method_of = lambda r, c: tables.table1_method(reg, r, c)  # noqa: E731
    generated = {methods.SD: [], methods.HVA_CN: [], methods.RADGAZEGEN: [],
                 tables.table1_method(reg, methods.SINGLE_CONTROLNET, HVA).name: []}
    shown = fidelity_table.fidelity_rows(reg, generated, rows, method_of)
    assert list(shown) == [methods.SD, methods.HVA_CN, methods.SINGLE_CONTROLNET, methods.RADGAZEGEN]
    assert shown[methods.RADGAZEGEN] == methods.RADGAZEGEN


def test_overall_table_names_each_metric_with_its_features():
    long = pd.DataFrame({"pathology": ["all findings", "all findings", "Edema"], "row": ["SD", "SD", "SD"],
                         "column": ["KID", "FRD", "KID"], "cell": ["1 [0, 2]", "3 [2, 4]", "9 [8, 10]"]})
    overall = fidelity_table.overall_table(long, "FID (study features)")
    assert overall.loc["SD"].tolist() == ["3 [2, 4]", "1 [0, 2]"]
    assert overall.columns[1] == "KID (study features)" and overall.columns[0].startswith("FRD (")


def test_loss_curve_plots_one_point_per_epoch_and_clip_column_defaults():
    from radgazegen.figures.tables import loss_curve

    fig = loss_curve([3.0, 2.0, 1.5])
    line = fig.axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 2.0, 1.5])
    assert fig.axes[0].get_xlabel() == "epoch" and fig.axes[0].get_ylabel() == "contrastive loss"
    column = ClipColumn("CLIP score (x)", brightness)
    assert column.losses is None and all(math.isnan(v) for v in column.own_vs_other)
