"""What the table notebooks (08-13) share: notebook 07's generated images, the metric per
replicate (mean +- std), the feature models that stand in for absent weights, and the results
files the results chapter reads.

Read here (the ``generation`` artifact of chapter 07, ``radgazegen.core.artifacts``):
``methods.json`` (the methods generated, ``methods.Registry.to_json``: name -> folder, kind,
controls, uses_gaze, models...), one folder per method with PNGs and ``manifest.csv`` (column
``replicate``), ``real/`` (the test images) and ``controls.npz`` (each control of the test
items, ``(N, R, R)`` uint8). Written here: the ``result:<table>`` artifacts (this run's
cells, mean and std, and the profile, replicates and metric names used).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from radgazegen.core.artifacts import as_run
from radgazegen.generation import read_generation
from radgazegen.generation.methods import (
    HVA_CN, MULTI_CONTROLNET, PAPER_FAMILIES, RAD_CN, RADGAZEGEN, SD, SINGLE_CONTROLNET, T2I_ADAPTER, Registry, catalogue,
)
from radgazegen.core.labels import TABLE3_PATHOLOGIES
from radgazegen.core.vocabulary import CANNY, CONTROLS, HVA, LABELS, RADIOMICS_CONTROLS, RADIOMICS_MAPS, SEGMENTATION


@dataclass
class Generated:
    """Notebook 07's output: ``images[method name]`` is a list (one per replicate) of ``(N, R, R)``
    uint8 arrays aligned with ``real`` and ``controls``; ``prompts`` and ``findings`` per item;
    ``methods``: the methods generated (``methods.Registry``: kind, controls, uses_gaze, ...)."""
    images: dict[str, list[np.ndarray]]
    real: np.ndarray
    controls: dict[str, np.ndarray]
    manifest: pd.DataFrame
    availability: dict[str, str]
    profile: str
    methods: Registry = field(default_factory=Registry)

    @property
    def replicates(self) -> int:
        return max(len(v) for v in self.images.values())


def load_generated(run) -> Generated:
    """Chapter 07's images, real test images, controls and manifest (``run``: a ``Run`` or its folder)."""
    out = as_run(run).read_generation_dir()
    index = out / "methods.json"
    if not index.is_file():
        raise FileNotFoundError(f"{index}: missing; run notebook 07 first")
    meta = json.loads(index.read_text())
    methods = Registry.from_json(meta["methods"])
    images = {}
    for name, method in methods.items():
        ims, man = read_generation(out / method.folder)
        reps = man["replicate"] if "replicate" in man else pd.Series(0, index=man.index)
        images[name] = [ims[(reps == r).to_numpy()] for r in sorted(reps.unique())]
    real, manifest = read_generation(out / "real")
    with np.load(out / "controls.npz") as z:
        controls = {k: z[k] for k in z.files}
    return Generated(images, real, controls, manifest, meta.get("availability", {}), meta.get("profile", ""), methods)


def per_replicate(fn: Callable[[np.ndarray], float], replicates: list[np.ndarray]) -> tuple[float, float]:
    """(mean, std) of ``fn(images)`` over replicates (std 0 for one)."""
    values = [float(fn(x)) for x in replicates]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def per_replicate_items(fn: Callable[[np.ndarray], np.ndarray], replicates: list[np.ndarray]) -> tuple[float, float, np.ndarray]:
    """``fn(images)`` gives one score per image (``(N,)``); returns the cell's mean and std over
    replicates (of the per-replicate means, as ``per_replicate``) and the ``(R, N)`` scores
    (``intervals.Evidence(kind="mean")``)."""
    values = np.stack([np.asarray(fn(x), np.float64) for x in replicates])
    means = values.mean(axis=1)
    return float(means.mean()), float(means.std(ddof=1)) if len(means) > 1 else 0.0, values


def fid_metric(run, inception_weights: str = "", real: np.ndarray | None = None):
    """FID with Inception weights from a local file when given, else with the study encoder
    notebook 03 trained on the cohort ("FID (study features)"). With ``real`` (``(N, H, W)``
    uint8, the table's real test images) their features are extracted once, here
    (``FID.set_real``): then ``fid(generated)`` per set of generated images."""
    from radgazegen.metrics import FID
    from radgazegen.standins import StudyEncoder

    if inception_weights:
        fid = FID.inception(inception_weights)
    else:
        fid = FID.study(StudyEncoder.load(as_run(run).use("study_encoder")))
    return fid if real is None else fid.set_real(real)


@lru_cache(maxsize=1)
def _lung_segmenter() -> Callable[[np.ndarray], np.ndarray]:
    """Notebook 02's lung segmenter, built once per process: the weight-free method
    (``segmentation.classical_lung_mask``, ``(H, W)`` uint8 -> ``(H, W)`` uint8 in {0, 1, 2})."""
    from radgazegen.controls.segmentation import classical_lung_mask

    return classical_lung_mask


def lung_masks(images: np.ndarray) -> np.ndarray:
    """Notebook 02's lung segmenter on each ``(N, H, W)`` uint8 image: ``(N, H, W)`` uint8, lungs 255."""
    segment = _lung_segmenter()
    return np.stack([(segment(im) > 0).astype(np.uint8) * 255 for im in images])


def save_result(run, table: str, mean: pd.DataFrame, std: pd.DataFrame, info: dict) -> Path:
    """``results/<table>.csv`` with columns row, column, mean, std, and ``<table>.json``."""
    long = mean.stack(future_stack=True).rename("mean").to_frame().join(std.stack(future_stack=True).rename("std"))
    long.index.names = ["row", "column"]
    return as_run(run).write_result(table, long.reset_index(), info)


def load_result(run, table: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(mean, std, info) as saved by ``save_result``; raises naming the file when missing."""
    long, info = as_run(run).read_result(table)
    mean = long.pivot(index="row", columns="column", values="mean")
    std = long.pivot(index="row", columns="column", values="std")
    order_r = list(dict.fromkeys(long["row"]))
    order_c = list(dict.fromkeys(long["column"]))
    return mean.loc[order_r, order_c], std.loc[order_r, order_c], info


def mean_std(mean: pd.DataFrame, std: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Cells as ``"m +- s"`` strings (just ``m`` where std is 0 or missing)."""
    def cell(m, s):
        if pd.isna(m):
            return ""
        return f"{m:.{digits}f}" if pd.isna(s) or s == 0 else f"{m:.{digits}f} ± {s:.{digits}f}"
    return pd.DataFrame({c: [cell(m, s) for m, s in zip(mean[c], std[c])] for c in mean.columns}, index=mean.index)


#: Tables whose rows are method families (``methods.FAMILIES``); in the others a row is one method.
FAMILY_TABLES = ("table1", "table2")


def comparable_columns(table: str, info: dict) -> list[str]:
    """The columns of the paper's ``table`` where this run measures the same quantity as the
    paper, given the run's ``info`` (``save_result``): SSIM, mIoU, PSNR, AUC and accuracies
    always; FID only with the Inception weights (``metric``), the CLIP score only with a CLIP
    model (``clip``: ``is_clip_model``), not with the study's stand-ins, whose scales are their own."""
    from radgazegen.core.paper import paper_table

    columns = list(paper_table(table).columns)
    inception = str(info.get("metric", "")).startswith("FID (Inception")
    clip = is_clip_model(str(info.get("clip", "")))
    keep = {"table1": lambda c: inception, "table2": lambda c: "CLIP" not in c or clip,
            "table5": lambda c: c != "FID" or inception}.get(table, lambda c: True)
    return [c for c in columns if keep(c)]


def is_clip_model(name: str) -> bool:
    """Whether Table 2's CLIP column (its ``info["clip"]``, chapter 09) was scored by a CLIP model:
    "CLIP score (<local CLIP folder>)", not the study's stand-in (``standins.clip.STUDY_CLIP_NAME``,
    "CLIP score (study image-report model; CLIP weights absent)"), whose name starts the same way."""
    from radgazegen.standins.clip import STUDY_CLIP_NAME

    return name.startswith("CLIP score (") and name != STUDY_CLIP_NAME


def paper_beside(run, table: str, ours: pd.DataFrame, profile: str) -> pd.DataFrame:
    """``paper.beside`` for one of this run's tables: the paper's rows matched (``paper_rows``)
    and a difference only in ``comparable_columns`` (from the table's saved ``info``)."""
    from radgazegen.core.paper import beside

    info = as_run(run).read_result(table)[1]
    return beside(table, ours, paper_rows(table), profile, comparable=comparable_columns(table, info))


def paper_rows(table: str) -> dict[str, str]:
    """Paper row label -> this study's row label, for every row of the paper's ``table``
    (``paper.beside``'s ``rows``): families in Tables 1-2 (``methods.PAPER_FAMILIES``), method
    names elsewhere (their ``paper_row``); rows that are no method ("Original*") keep theirs."""
    from radgazegen.core.paper import paper_table

    ours = {p: f for f, p in PAPER_FAMILIES.items()} if table in FAMILY_TABLES else catalogue().paper_rows()
    return {p: ours.get(p, p) for p in paper_table(table).index}


def paper_as_ours(table: str) -> pd.DataFrame:
    """The paper's table with this study's row labels (for ``claims``)."""
    from radgazegen.core.paper import paper_table

    return paper_table(table).rename(index=paper_rows(table))


def two_settings(cells: dict, study: str, other: str, columns: list[str], n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Two rows of a table side by side (chapters 08-09: RadGazeGen at this study's scales and at
    the authors', ``methods.AUTHORS_SAMPLER``): per column of ``columns`` where both ``(row,
    column)`` cells of ``cells`` have ``Evidence``, each row's value, ``other - study`` with its
    paired 95% bootstrap interval over findings and seeds, and which row the interval favours
    (each column read its own way: lower FID, higher SSIM)."""
    from radgazegen.core.intervals import paired_difference

    out = {}
    for col in columns:
        if (other, col) not in cells or (study, col) not in cells:
            continue
        d = paired_difference(cells[(other, col)], cells[(study, col)], n_boot=n_boot, seed=seed)
        out[col] = {study: cells[(study, col)].value(), other: cells[(other, col)].value(), "difference": d.difference,
                    "95% low": d.low, "95% high": d.high,
                    "better": other if d.favours_a else study if d.favours_b else "neither (the interval reaches 0)"}
    return pd.DataFrame.from_dict(out, orient="index")
