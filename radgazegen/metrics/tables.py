"""The one table builder of the results chapters (08-13): rows (method families or methods) by
columns (a control or a metric); per cell, the method of the cell (``method_of(row, key)``),
its generated images measured per replicate (``measure(replicates, key)`` -> mean, std and the
per-finding ``intervals.Evidence`` that chapter 14's intervals read), then the result and the
evidence saved (``Table.save``). The paper's table beside it stays
``evaluation.paper_beside``.

Measures: ``fid_measure`` (one FID per replicate, the per-finding features kept),
``items_measure`` (one score per image, ``(R, N)`` kept; Table 2's scores: ``control_scorer``), ``by_column`` (one measure per
column key), ``per_row`` (a row computed once, read per column). Cells of the paper's tables: ``table1_method`` (Table 1, chapter 08),
``table2_method`` (Table 2, chapter 09). Counts the chapters glue: ``rg_wins`` (chapter 09),
``ablation_summary`` (chapter 12).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from radgazegen.core.intervals import Evidence, save_evidence
from radgazegen.core.vocabulary import SEGMENTATION
from radgazegen.generation import methods
from radgazegen.metrics.evaluation import per_replicate, per_replicate_items, save_result

#: ``(replicates, key) -> (mean, std, evidence)``: ``replicates`` a list (one per replicate) of
#: ``(N, R, R)`` uint8 images, ``key`` the column's key; the mean and std are over replicates;
#: ``evidence`` None for a cell chapter 14 does not resample (e.g. an average over columns).
Measure = Callable[[list[np.ndarray], Any], tuple[float, float, Evidence | None]]


@dataclass
class Table:
    """A built table: ``mean`` and ``std`` (rows x columns, float, NaN where the cell's method
    was not generated) and ``cells`` ``{(row, column): Evidence}`` for the cells computed."""
    mean: pd.DataFrame
    std: pd.DataFrame
    cells: dict[tuple[str, str], Evidence]

    def save(self, run, table: str, info: dict) -> None:
        """``evaluation.save_result`` (``results/<table>.csv``, ``.json`` with ``info``) and the
        cells' evidence (``run.evidence_path(table)``, read by chapter 14)."""
        save_result(run, table, self.mean, self.std, info)
        save_evidence(run.evidence_path(table), self.cells)


def build(rows: Sequence[str], columns: Mapping[str, Hashable], method_of: Callable[[str, Any], Any],
          measure: Measure, images: Mapping[str, list[np.ndarray]]) -> Table:
    """The table of ``rows`` by ``columns`` (column label -> key, the key that ``method_of`` and
    ``measure`` read: a control, a metric). A cell's method is ``method_of(row, key)`` (a
    ``methods.Method``, a method name, or None for an empty cell); the cell is measured when its
    method has images (``images[name]``: per replicate ``(N, R, R)`` uint8), row by row, columns
    in order. Used by chapters 08-13 (13: the pointing game)."""
    mean = pd.DataFrame(index=list(rows), columns=list(columns), dtype=float)
    std, cells = mean.copy(), {}
    for r in rows:
        for col, key in columns.items():
            method = method_of(r, key)
            name = getattr(method, "name", method)
            if name is not None and name in images:
                mean.loc[r, col], std.loc[r, col], evidence = measure(images[name], key)
                if evidence is not None:  # None: a cell without a per-item statistic (an average of columns)
                    cells[(r, col)] = evidence
    return Table(mean, std, cells)


def fid_measure(fid, real_features: np.ndarray) -> Measure:
    """FID per replicate (``fid(images)``, ``evaluation.per_replicate``: mean, std over
    replicates) with the per-finding ``Evidence("fid", "lower")`` of features ``(R, N, D)``
    against ``real_features`` ``(N, D)``. The key is not read. Used by chapters 08 and 12."""
    def measure(replicates: list[np.ndarray], key=None) -> tuple[float, float, Evidence]:
        m, s = per_replicate(fid, replicates)
        features = np.stack([fid.features(x) for x in replicates])
        return m, s, Evidence("fid", "lower", features=features, real=real_features)
    return measure


def items_measure(scorers: Mapping[Hashable, Callable[[np.ndarray], np.ndarray]], better: str = "higher") -> Measure:
    """Per-image scores: ``scorers[key](images)`` gives ``(N,)`` scores; the cell's mean and std
    over replicates of the per-replicate means (``evaluation.per_replicate_items``) and
    ``Evidence("mean", better)`` of the ``(R, N)`` scores. Used by chapters 09 and 12."""
    def measure(replicates: list[np.ndarray], key) -> tuple[float, float, Evidence]:
        m, s, values = per_replicate_items(scorers[key], replicates)
        return m, s, Evidence("mean", better, values=values)
    return measure


def control_scorer(controls: Mapping[str, np.ndarray]) -> Callable[[np.ndarray, str], np.ndarray]:
    """Table 2's controllability (chapter 09): ``score(images, c)`` gives ``(N,)`` per-image
    scores of ``images`` (``(N, R, R)`` uint8) against the test items' control ``c`` of
    ``controls`` (``(N, R, R)`` uint8 each): for the lung segmentation, the IoU in [0, 1] of
    notebook 02's segmenter's lungs on each image with the control's lungs (``> 0``); for a
    radiomics map, the SSIM in [-1, 1] of the map of each image with the control's
    (``metrics.controllability``)."""
    from radgazegen import metrics
    from radgazegen.metrics.evaluation import lung_masks

    lung_control = (controls[SEGMENTATION] > 0).astype(np.uint8) * 255

    def score(images: np.ndarray, c: str) -> np.ndarray:
        if c == SEGMENTATION:
            return metrics.mean_iou(lung_masks(images), lung_control, per_image=True)
        return metrics.controllability(images, {c: controls[c]}, per_image=True)[f"{c} (SSIM)"]
    return score


def per_row(compute: Callable[[list], Mapping[Hashable, tuple[float, float, Evidence | None]]]) -> Measure:
    """A measure for tables whose row is computed once and read per column (chapters 10 and 11:
    one classifier's scores of the row's images, one classifier trained per row):
    ``compute(replicates)`` gives ``{key: (mean, std, evidence)}`` for every column key; it runs
    once per row's ``replicates`` (the same object ``build`` passes for each column)."""
    done: dict[int, tuple[Any, Mapping]] = {}

    def measure(replicates: list, key) -> tuple[float, float, Evidence | None]:
        if id(replicates) not in done:  # the replicates are kept with the result: their id stays theirs
            done[id(replicates)] = (replicates, compute(replicates))
        return done[id(replicates)][1][key]
    return measure


def by_column(measures: Mapping[Hashable, Measure]) -> Measure:
    """One measure per column key (chapter 12: FID for "FID", per-image scores for the others)."""
    return lambda replicates, key: measures[key](replicates, key)


def table1_method(registry: methods.Registry, row: str, control: str) -> methods.Method | None:
    """Table 1's cell (chapter 08): row ``row`` (a family) in the column of ``control``. The
    single-control baselines (T2I-Adapter, ControlNet) on ``control`` alone; Multi-ControlNet
    and RadGazeGen on ``control`` + HVA, and with every control in the HVA column."""
    if row in (methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET):
        return registry.single(row, control)
    return registry.get(row) if control == methods.HVA else registry.find(row, (control, methods.HVA))


def table2_method(registry: methods.Registry, row: str, control: str) -> methods.Method | None:
    """Table 2's cell (chapter 09): row ``row`` (a family) for ``control``: the single-control
    baselines on ``control`` alone, the other families as they are (all their controls)."""
    if row in (methods.T2I_ADAPTER, methods.SINGLE_CONTROLNET):
        return registry.single(row, control)
    return registry.get(row)


def rg_wins(frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """Of ``columns`` (those of ``frame`` count), how many where RadGazeGen is above both SD and
    ControlNet (the paper's count, §4.2.1, Table 2; higher is better); 0 when a row is missing.
    Used by chapter 09, on this run's table and on the paper's (``evaluation.paper_as_ours``)."""
    cols = [c for c in frame.columns if c in columns]
    rows = [methods.RADGAZEGEN, methods.SD, methods.SINGLE_CONTROLNET]
    if not all(r in frame.index for r in rows):
        return 0
    f = frame.loc[rows, cols].astype(float)
    return int(((f.loc[rows[0]] > f.loc[rows[1]]) & (f.loc[rows[0]] > f.loc[rows[2]])).sum())


def ablation_summary(mean: pd.DataFrame, with_map_rows: Sequence[str]) -> dict[str, float | int]:
    """Table 5's counts (chapter 12), from ``mean`` (rows: the ablation's methods, RadGazeGen
    and HVA-CN among them; columns FID, SSIM, PSNR in dB): how many components there are
    (``n_parts``: the rows other than RadGazeGen with a value), the full model's values, how
    many components it beats on each metric (FID lower, SSIM and PSNR higher), and in how many
    of the ``with_map_rows`` (a radiomics map + HVA-CN) the FID is below HVA-CN's alone."""
    full = mean.loc[methods.RADGAZEGEN].astype(float)
    parts = mean.drop(index=methods.RADGAZEGEN).astype(float).dropna(how="all")  # the rows this run generated
    hva_only = mean.loc[methods.HVA_CN].astype(float)
    with_map = mean.loc[list(with_map_rows)].astype(float).dropna(how="all")
    return {"n_parts": len(parts), "full_fid": float(full["FID"]), "full_ssim": float(full["SSIM"]),
            "full_psnr": float(full["PSNR"]), "beats_fid": int((full["FID"] < parts["FID"]).sum()),
            "beats_ssim": int((full["SSIM"] > parts["SSIM"]).sum()), "beats_psnr": int((full["PSNR"] > parts["PSNR"]).sum()),
            "n_with_map": len(with_map), "map_helps_fid": int((with_map["FID"] < hva_only["FID"]).sum())}
