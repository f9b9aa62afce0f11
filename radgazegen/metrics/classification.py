"""The classification tables: whether generated images keep their findings (Table 3, §4.2.2)
and whether they help a classifier on the long tail (Table 4, §4.2.3).

Table 3 (chapter 10): a classifier trained on real radiographs scores the CheXpert-test
images and their generated counterparts; per pathology the AUC (%), per row (real or a
method) mean and std over replicates, and per cell the ``intervals.Evidence`` (the scores of
every image and seed) that chapter 14's intervals resample.

- ``table3_labels(records)``: the ``(N, 12)`` positives of Table 3's pathologies;
- ``table3_classifier(...)``: TorchXRayVision's DenseNet-121 when its weights are given, else
  a DenseNet-121 trained here (a ``Classifier``: name, scores, losses);
- ``auc_row``, ``auc_scores``, ``auc_measure``: one replicate's AUC row, a row of the table
  (mean, std, evidence per column) and the measure ``metrics.tables.build`` reads it with;
  ``pathologies_won``: how often one row beats another.

Table 4 (chapter 11): one classifier per augmentation, scored on the balanced test set
(accuracy per head / medium / tail group and their average) and the test set (macro-F1,
balanced accuracy), ``metrics.long_tail_report``.

- ``long_tail_arrays(records, classes, R)``: images and class indices of a split;
- ``long_tail_row``, ``long_tail_evidence``: one augmentation's row and its evidence;
  ``long_tail_measure``: the measure ``metrics.tables.build`` trains each row's classifier with;
  ``baselines_beaten``: how many baseline generators one row is ahead of.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from radgazegen.core.intervals import Evidence
from radgazegen.core.labels import TABLE3_PATHOLOGIES
from radgazegen.generation.top_up import lt_class
from radgazegen.metrics import tables

#: Table 4's columns: (column, test split, ``Evidence`` statistic) after the group accuracies.
LONG_TAIL_TOTALS = (("Avg", "balanced-test", "mean_recall"), ("mF1", "test", "macro_f1"), ("bAcc", "test", "mean_recall"))


# ---------------------------------------------------------------- Table 3

def table3_labels(records: Sequence, pathologies: Sequence[tuple[str, str, str]] = TABLE3_PATHOLOGIES) -> np.ndarray:
    """``(N, P)`` float64 in {0, 1}: 1 where record ``i``'s label of pathology ``j``'s CheXpert
    observation is positive (1.0); uncertain (-1), negative, blank and absent are 0.
    pathologies: (abbreviation, CheXpert observation, TorchXRayVision name). Used by chapter 10."""
    return np.array([[float(r.labels.get(c, 0.0) == 1.0) for _, c, _ in pathologies] for r in records])


@dataclass
class Classifier:
    """A Table 3 classifier: ``name`` as printed, ``scores(images)``: ``(N, H, W)`` uint8 ->
    ``(N, P)`` float32 in [0, 1] in Table 3's pathology order, ``losses``: mean loss per epoch
    when trained here (None for TorchXRayVision's). Calling it is ``scores``. Used by chapter 10."""
    name: str
    scores: Callable[[np.ndarray], np.ndarray]
    losses: list[float] | None = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.scores(images)


def table3_classifier(xrv_weights_dir: str, mimic_lt_root: str | Path, mimic_cxr_jpg_root: str | Path,
                      resolution: int, size: int, epochs: int, seed: int, device: str, save_to: str | Path,
                      pathologies: Sequence[tuple[str, str, str]] = TABLE3_PATHOLOGIES) -> Classifier:
    """The classifier of Table 3.

    With ``xrv_weights_dir`` (a folder with TorchXRayVision's ``densenet121-res224-all``
    weights): ``standins.XRVClassifier``, its outputs of ``pathologies`` (third field) in order.
    Otherwise a torchvision DenseNet-121 trained from scratch (multi-label BCE, ``size`` px,
    ``epochs``, lr 1e-3, ``seed``) on the MIMIC-CXR-LT training images (read at
    ``max(size, resolution)`` px) and their labels of the CheXpert observations (second field),
    saved to ``save_to`` (``standins.save_classifier``). Used by chapter 10.
    """
    from radgazegen import standins
    from radgazegen.data import read_mimic_lt
    from radgazegen.models import training_data

    if xrv_weights_dir:
        xrv = standins.XRVClassifier(xrv_weights_dir, device=device)
        cols = [xrv.pathologies.index(x) for _, _, x in pathologies]
        return Classifier(xrv.name, lambda images: xrv(images)[:, cols])
    lt = [r for r in read_mimic_lt(mimic_lt_root, mimic_cxr_jpg_root) if r.split == "train"]
    x = np.stack([training_data.read_gray(r.image_path, max(size, resolution), "MIMIC-CXR-LT radiograph") for r in lt])
    y = np.array([[r.labels[c] for _, c, _ in pathologies] for r in lt], np.float32)
    model, losses = standins.train_classifier("densenet121", x, y, multilabel=True, size=size,
                                              epochs=epochs, lr=1e-3, seed=seed, device=device)
    standins.save_classifier(model, save_to)
    return Classifier(f"DenseNet-121 trained here on {len(lt)} cohort images (TorchXRayVision weights absent)",
                      lambda images: standins.predict(model, images, device=device), losses)


def auc_row(truth: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> pd.Series:
    """AUC (%, 0-100) per pathology of one replicate's ``(N, P)`` scores against the ``(N, P)``
    0/1 ``truth`` (``metrics.auc_per_class``; NaN where a pathology has one class only),
    indexed by ``names``, then "Avg." (their mean, NaN skipped). Used by chapter 10."""
    from radgazegen.metrics import auc_per_class

    row = pd.Series(auc_per_class(truth, scores, names)) * 100
    row["Avg."] = row.mean(skipna=True)
    return row


def auc_scores(truth: np.ndarray, scores: np.ndarray, names: Sequence[str]) -> dict[str, tuple[float, float, Evidence | None]]:
    """One row of Table 3 from its ``(R, N, P)`` scores (R replicates of N images, P = len(names))
    against the ``(N, P)`` 0/1 ``truth``: per pathology and for "Avg." the AUC (%) mean over
    replicates of ``auc_row`` and its std (ddof 1; 0.0 for one replicate), with the pathology's
    ``Evidence("labels", statistic "auc", scale 100)`` of its ``(R, N)`` scores where the AUC is
    defined (both classes among the N images), else None, and None for "Avg." (chapter 14
    resamples the pathologies' cells). Used by chapter 10 (``auc_measure``)."""
    rows = pd.concat([auc_row(truth, sc, names) for sc in scores], axis=1)
    mean = rows.mean(axis=1)
    std = rows.std(axis=1, ddof=1) if len(scores) > 1 else pd.Series(0.0, index=rows.index)
    defined = {names[j] for j in range(len(names)) if 0 < truth[:, j].sum() < len(truth)}  # AUC needs both classes
    return {name: (mean[name], std[name],
                   Evidence("labels", "higher", values=scores[:, :, j], truth=truth[:, j], statistic="auc", scale=100.0)
                   if name in defined else None) for j, name in enumerate(names)} | {"Avg.": (mean["Avg."], std["Avg."], None)}


def auc_measure(classify: Callable[[np.ndarray], np.ndarray], truth: np.ndarray, names: Sequence[str]):
    """Table 3's ``tables.Measure`` (chapter 10, with ``tables.build``; columns ``names`` then
    "Avg."): a row's replicates (``(N, H, W)`` uint8 images each) are scored once by ``classify``
    (``(N, P)`` scores), stacked ``(R, N, P)``, and read per column (``auc_scores``)."""
    return tables.per_row(lambda replicates: auc_scores(truth, np.stack([classify(x) for x in replicates]), names))


def pathologies_won(table: pd.DataFrame, method: str, baseline: str, columns: Sequence[str]) -> tuple[int, int]:
    """(columns where row ``method`` is above row ``baseline``, columns where both are defined);
    (0, 0) when ``method`` is no row of ``table``. Used by chapter 10."""
    if method not in table.index:
        return 0, 0
    wins = int((table.loc[method, columns] > table.loc[baseline, columns]).sum())
    return wins, int(table.loc[[method, baseline], columns].notna().all().sum())


# ---------------------------------------------------------------- Table 4

def long_tail_arrays(records: Sequence, classes: Sequence[str], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(``(N, R, R)`` uint8 images read at ``resolution``, ``(N,)`` int class indices
    (``top_up.lt_class``)) of MIMIC-CXR-LT records. Used by chapter 11."""
    from radgazegen.models import training_data

    x = np.stack([training_data.read_gray(r.image_path, resolution, "MIMIC-CXR-LT radiograph") for r in records])
    return x, np.array([lt_class(r, classes) for r in records])


def long_tail_row(truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray], classes: Sequence[str],
                  groups: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """One augmentation's row of Table 4, fractions in [0, 1]: each group's accuracy (mean
    per-class recall, keys of ``groups``) and their "Avg" on the balanced test set, "mF1" and
    "bAcc" on the test set (``metrics.long_tail_report``). truth, pred: split ("balanced-test",
    "test") -> ``(N,)`` class indices. Used by chapter 11."""
    from radgazegen.metrics import long_tail_report

    bal = long_tail_report(truth["balanced-test"], pred["balanced-test"], classes, groups)
    imb = long_tail_report(truth["test"], pred["test"], classes, groups)
    return {**{g: bal[g] for g in groups}, "Avg": bal["Avg"], "mF1": imb["mF1"], "bAcc": imb["bAcc"]}


def long_tail_evidence(truth: Mapping[str, np.ndarray], pred: Mapping[str, np.ndarray],
                       classes: Sequence[str], groups: Mapping[str, Sequence[str]]) -> dict[str, Evidence]:
    """column -> ``Evidence("labels")`` of each ``long_tail_row`` column: the one
    classifier's ``(1, N)`` predictions of the column's split with its truth, the statistic
    (``mean_recall`` over the group's classes, or over all; ``macro_f1``) chapter 14 resamples
    test images with. Used by chapter 11."""
    subsets = {g: np.array([list(classes).index(c) for c in names]) for g, names in groups.items()}
    columns = [*((g, "balanced-test", "mean_recall", subsets[g]) for g in groups),
               *((col, split, statistic, None) for col, split, statistic in LONG_TAIL_TOTALS)]
    return {col: Evidence("labels", "higher", values=pred[split][None].astype(float), truth=truth[split],
                                  statistic=statistic, subset=subset)
            for col, split, statistic, subset in columns}


def long_tail_columns(groups: Mapping[str, Sequence[str]]) -> list[str]:
    """Table 4's columns: the groups' accuracies, then "Avg", "mF1", "bAcc". Used by chapter 11."""
    return [*groups, *(col for col, _, _ in LONG_TAIL_TOTALS)]


def long_tail_measure(real: tuple[np.ndarray, np.ndarray], tests: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      classes: Sequence[str], groups: Mapping[str, Sequence[str]], arch: str, size: int, epochs: int,
                      batch_size: int, lr: float, seed: int, device: str = "cpu"):
    """Table 4's ``tables.Measure`` (chapter 11, with ``tables.build``; columns
    ``long_tail_columns``): a row's one replicate ``(x, y)`` (generated ``(M, R, R)`` uint8 images
    and their ``(M,)`` class indices; none for "no augmentation") is added to the ``real`` training
    images and labels, one classifier (``standins.train_classifier``: ``arch`` at ``size`` px,
    ``epochs``, ``batch_size``, ``lr``, ``seed``) is trained on them, and it predicts each split
    of ``tests`` (split -> (images, class indices)); per column the ``long_tail_row`` value (a
    fraction in [0, 1]), std 0 (one classifier; NaN where the value is) and its
    ``long_tail_evidence``. Rows are trained in the order ``tables.build`` reads them."""
    from radgazegen import standins

    truth = {s: y for s, (_, y) in tests.items()}

    def compute(replicates: list) -> dict[str, tuple[float, float, Evidence]]:
        (gx, gy), = replicates
        model, _ = standins.train_classifier(arch, np.concatenate([real[0], gx]), np.concatenate([real[1], gy]),
                                             multilabel=False, size=size, epochs=epochs, batch_size=batch_size,
                                             lr=lr, seed=seed, device=device)
        pred = {s: standins.predict(model, x, device).argmax(1) for s, (x, _) in tests.items()}
        row = long_tail_row(truth, pred, classes, groups)
        cells = long_tail_evidence(truth, pred, classes, groups)
        return {col: (row[col], row[col] * 0.0, cells[col]) for col in row}
    return tables.per_row(compute)


def baselines_beaten(table: pd.DataFrame, method: str, columns: Sequence[str],
                     reference: str = "no augmentation") -> tuple[dict[str, int], list[str]]:
    """({column: how many baselines row ``method`` is above}, the baselines): the baselines are
    the rows other than ``method`` and ``reference`` (no generated images), in table order; every
    count is 0 when ``method`` is no row. Used by chapter 11."""
    others = [n for n in table.index if n not in (method, reference)]
    ahead = {c: int(sum(table.loc[method, c] > table.loc[o, c] for o in others)) if method in table.index else 0
             for c in columns}
    return ahead, others
