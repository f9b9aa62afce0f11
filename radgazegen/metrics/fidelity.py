"""Fidelity beyond FID: KID, precision / recall / density / coverage and a Fréchet Radiomics
Distance, overall, with intervals over findings and seeds, and per pathology.

Since the paper, synthetic chest radiographs have a benchmark, CheXGenBench (Dutt et al. 2025,
``Raman1121/CheXGenBench``): beside FID it reports KID, precision / recall / density / coverage
(k = 5) on the same features, a Fréchet Radiomics Distance, and each of them per pathology.
This module computes them with the libraries that define them, on feature matrices the caller
extracted (``metrics.FID.features``: Inception-v3 when its weights are given, a radiology
encoder when given, the study's own encoder otherwise):

- **KID** (Bińkowski et al. 2018): torchmetrics' ``KernelInceptionDistance`` fed the features
  through an identity feature extractor (``kid``): the unbiased squared MMD with the cubic
  polynomial kernel ``(x . y / D + 1)^3``, averaged over random subsets. Lower is better; about 0
  (it can be slightly negative) for two samples of one distribution.
- **Precision, recall, density, coverage** (Naeem et al. 2020, "Reliable fidelity and diversity
  metrics for generative models"): the authors' ``prdc`` package (``prdc.compute_prdc``), with
  k = 5 nearest neighbours as CheXGenBench. Precision and density: how many generated images
  fall in the real images' k-NN balls (fidelity); recall and coverage: how much of the real
  set the generated images reach (diversity). Higher is better; 1 for identical sets (density
  about 1), 0 for sets far apart.
- **FRD**, a Fréchet Radiomics Distance: ``radiomics_distance`` (the study's radiomics maps'
  statistics through ``frechet_distance_of`` here).

Every function returns ``Score`` values that carry what they were computed on (``features``)
and by which library, so a table labels each cell ("KID (study features)").

Intervals: ``fidelity_evidence`` gives each metric as an ``intervals.Evidence`` (per finding
i and seed r), so ``intervals.paired_difference`` compares two methods and ``cell_interval``
gives one cell's percentile-bootstrap interval, resampling findings and seeds as chapter 14
does. ``per_pathology`` recomputes every cell on the findings of each pathology label, with its
interval (Table 1 and Table 2 per pathology).
"""
from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from radgazegen.core.intervals import N_BOOT_FID, Evidence

#: Nearest neighbours of precision / recall / density / coverage (CheXGenBench, Naeem et al.).
PRDC_K = 5
PRDC_METRICS = ("precision", "recall", "density", "coverage")
#: Resamples of one cell's interval (``cell_interval``, ``per_pathology``).
N_BOOT_CELL = 500

# ---------------------------------------------------------------- scores


@dataclass(frozen=True)
class Score:
    """One fidelity number: ``metric`` ("KID", "precision", ...) of ``n_generated`` generated
    against ``n_real`` real images, computed on ``features`` (what a table names: "study
    features", "Inception-v3", "radiomics-map statistics") by ``library``. ``spread``: KID's
    standard deviation over its random subsets (NaN for the others)."""
    metric: str
    value: float
    features: str
    library: str
    n_real: int
    n_generated: int
    spread: float = math.nan

    @property
    def label(self) -> str:
        """The table's column name: ``"KID (study features)"``."""
        return f"{self.metric} ({self.features})"


def features_of(name: str) -> str:
    """What a metric's name says it is computed on: ``"FID (study features)"`` ->
    ``"study features"`` (``metrics.FID.name``); a name without parentheses is returned as is."""
    return name[name.index("(") + 1:name.rindex(")")] if "(" in name and name.endswith(")") else name


def _matrix(x, what: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or not len(x) or not np.isfinite(x).all():
        raise ValueError(f"{what}: expected a finite (N, D) feature matrix, got shape {x.shape}")
    return x


def _two(real, generated, what: str) -> tuple[np.ndarray, np.ndarray]:
    real, generated = _matrix(real, f"{what} (real)"), _matrix(generated, f"{what} (generated)")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"{what}: real and generated features differ in width, {real.shape[1]} vs {generated.shape[1]}")
    return real, generated


class _Given(torch.nn.Module):
    """Identity "feature extractor": torchmetrics' FID and KID classes fed features, not images."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# ---------------------------------------------------------------- KID

def kid(real: np.ndarray, generated: np.ndarray, features: str, subset_size: int = 1000, subsets: int = 100,
        seed: int = 0) -> Score:
    """KID of ``(N_gen, D)`` generated against ``(N_real, D)`` real features (module docstring):
    torchmetrics ``KernelInceptionDistance`` with an identity extractor, kernel degree 3,
    gamma 1 / D, coef 1 (its defaults, Bińkowski et al.).

    Subsets of ``min(subset_size, N_real, N_gen)`` images (at least 2) are drawn ``subsets``
    times with torch's generator seeded by ``seed`` (the value is reproducible); when that is
    both whole sets, one subset is exact and is used. ``features``: what the features are, for
    the label. Returns ``Score`` with ``spread`` the standard deviation over subsets."""
    from torchmetrics.image.kid import KernelInceptionDistance

    real, generated = _two(real, generated, "kid")
    size = min(int(subset_size), len(real), len(generated))
    if size < 2:
        raise ValueError(f"kid: need at least 2 real and 2 generated images, got {len(real)} and {len(generated)}")
    whole = size == len(real) == len(generated)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        metric = KernelInceptionDistance(feature=_Given(real.shape[1]), subsets=1 if whole else int(subsets),
                                         subset_size=size)
    metric.update(torch.from_numpy(real), real=True)
    metric.update(torch.from_numpy(generated), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return Score("KID", float(mean), features, "torchmetrics KernelInceptionDistance", len(real), len(generated),
                 float(std))


# ---------------------------------------------------------------- precision / recall / density / coverage

def precision_recall_density_coverage(real: np.ndarray, generated: np.ndarray, features: str,
                                      k: int = PRDC_K) -> dict[str, Score]:
    """Naeem et al.'s four metrics of ``(N_gen, D)`` generated against ``(N_real, D)`` real
    features by the authors' ``prdc.compute_prdc`` (Euclidean k-NN balls, k = 5 by default;
    both sets need more than k images). Returns ``{"precision", "recall", "density",
    "coverage"} -> Score``; all in [0, 1] except density (in [0, N_real / k], about 1 when the
    generated images are distributed as the real ones)."""
    from prdc import compute_prdc

    real, generated = _two(real, generated, "precision_recall_density_coverage")
    if min(len(real), len(generated)) <= k:
        raise ValueError(f"precision_recall_density_coverage: k = {k} needs more than {k} real and generated "
                         f"images, got {len(real)} and {len(generated)}")
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        out = compute_prdc(real_features=real, fake_features=generated, nearest_k=int(k))
    return {m: Score(m, float(out[m]), features, f"prdc (Naeem et al. 2020), k = {k}", len(real), len(generated))
            for m in PRDC_METRICS}


def prdc_neighbours(n: int, k: int = PRDC_K) -> int:
    """The k of the k-NN balls for sets of ``n`` images: ``k`` (5, CheXGenBench's and Naeem et
    al.'s), or ``n - 2`` when fewer than ``k + 2`` images are given (``prdc`` ranks each image's
    k + 1 nearest neighbours, itself included, among the others). Raises ValueError below 3."""
    if n < 3:
        raise ValueError(f"precision / recall / density / coverage need at least 3 images per set, got {n}")
    return int(min(k, n - 2))


def prdc_per_item(real: np.ndarray, generated: np.ndarray, k: int = PRDC_K) -> dict[str, np.ndarray]:
    """Naeem et al.'s four metrics as means over items, for intervals: ``(N_real, D)`` real and
    ``(N_gen, D)`` generated features -> precision and density per generated image ``(N_gen,)``
    (in a real k-NN ball: 0/1; how many balls / k), recall and coverage per real image
    ``(N_real,)`` (in a generated ball: 0/1; nearest generated image inside its own ball: 0/1).

    The distances and k-NN radii are ``prdc``'s own functions, the comparisons those of
    ``prdc.compute_prdc`` before its ``.mean()``: the means of these arrays are
    ``compute_prdc``'s values exactly (tested). Resampling these items keeps the k-NN balls of
    the whole sets fixed (a resample with repeated images would shrink a ball to radius 0)."""
    from prdc.prdc import compute_nearest_neighbour_distances, compute_pairwise_distance

    real, generated = _two(real, generated, "prdc_per_item")
    if k != prdc_neighbours(min(len(real), len(generated)), k):
        raise ValueError(f"prdc_per_item: k = {k} needs at least {k + 2} real and generated images, got "
                         f"{len(real)} and {len(generated)} (use prdc_neighbours)")
    real_radii = compute_nearest_neighbour_distances(real, k)
    fake_radii = compute_nearest_neighbour_distances(generated, k)
    d = compute_pairwise_distance(real, generated)
    in_real_ball = d < real_radii[:, None]
    return {"precision": in_real_ball.any(axis=0).astype(np.float64),
            "recall": (d < fake_radii[None, :]).any(axis=1).astype(np.float64),
            "density": in_real_ball.sum(axis=0) / float(k),
            "coverage": (d.min(axis=1) < real_radii).astype(np.float64)}


# ---------------------------------------------------------------- Fréchet Radiomics Distance

def standardise(real: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """z-score every feature by the real set's mean and standard deviation (FRD v1's
    normalisation by the reference domain; a feature constant on the real set is only
    centred). Returns the real and each of ``others`` (any leading shape, last axis D)."""
    real = np.asarray(real, np.float64)
    mean, std = real.mean(0), real.std(0)
    std = np.where(std > 0, std, 1.0)
    return tuple((np.asarray(x, np.float64) - mean) / std for x in (real, *others))


def frechet_distance_of(real: np.ndarray, generated: np.ndarray, metric: str, features: str) -> Score:
    """The Fréchet distance of ``(N_gen, D)`` generated against ``(N_real, D)`` real features
    (N >= 2 each) by torchmetrics' ``FrechetInceptionDistance`` with an identity extractor (FID's
    formula, float64), named ``metric`` computed on ``features``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, generated = _two(real, generated, metric)
    if min(len(real), len(generated)) < 2:
        raise ValueError(f"{metric}: need at least 2 real and 2 generated images, got {len(real)} and {len(generated)}")
    fd = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    fd.update(torch.from_numpy(real), real=True)
    fd.update(torch.from_numpy(generated), real=False)
    return Score(metric, float(fd.compute()), features, "torchmetrics FrechetInceptionDistance", len(real), len(generated))


# ---------------------------------------------------------------- evidence and intervals

def fidelity_evidence(real: np.ndarray, generated: np.ndarray, k: int = PRDC_K) -> dict[str, Evidence]:
    """KID and the four PRDC metrics of one table cell as ``intervals.Evidence``, per finding i
    and seed r: ``real`` ``(N, D)`` features of the real test images, ``generated`` ``(R, N,
    D)`` of the images generated from finding i's prompt and controls with seed r.

    ``"KID"``: ``Evidence(kind="kid")`` (lower is better); ``"precision"``, ``"recall"``,
    ``"density"``, ``"coverage"``: ``Evidence(kind="mean")`` of ``prdc_per_item`` per seed (higher
    is better; their values are ``compute_prdc``'s per seed, averaged over seeds)."""
    real = _matrix(real, "fidelity_evidence (real)")
    generated = np.asarray(generated, np.float64)
    if generated.ndim != 3 or generated.shape[1:] != real.shape:
        raise ValueError(f"fidelity_evidence: generated features must be (R, N, D) with (N, D) = {real.shape}, "
                         f"got {generated.shape}")
    per_seed = [prdc_per_item(real, g, k) for g in generated]
    cells = {"KID": Evidence("kid", "lower", features=generated, real=real)}
    for m in PRDC_METRICS:
        cells[m] = Evidence("mean", "higher", values=np.stack([p[m] for p in per_seed]))
    return cells


@dataclass(frozen=True)
class Interval:
    """One cell's value and its percentile-bootstrap interval over ``n_items`` findings and
    ``n_seeds`` seeds."""
    value: float
    low: float
    high: float
    n_items: int
    n_seeds: int

    def text(self, digits: int = 3) -> str:
        """``value [low, high]`` with ``digits`` significant digits."""
        return f"{self.value:.{digits}g} [{self.low:.{digits}g}, {self.high:.{digits}g}]"


def cell_interval(evidence: Evidence, items: np.ndarray | None = None, n_boot: int = N_BOOT_CELL, seed: int = 0,
                  level: float = 0.95) -> Interval:
    """The cell's value on findings ``items`` (indices; all when None) and its percentile
    bootstrap interval: each of ``n_boot`` resamples draws as many findings from ``items`` and R
    seeds with replacement (``intervals.paired_difference``'s scheme, for one cell). FID and KID
    cells get at most ``intervals.N_BOOT_FID`` resamples. Resamples on which the cell is
    undefined (AUC with one class) are left out; none defined gives NaN bounds.

    A Fréchet distance (``kind="fid"``: FID, FRD) is a plug-in estimate that grows as the number
    of distinct findings falls, and a resample holds about 63 % of them: its resamples lie above
    the value, often all of them. Its interval is therefore the percentile interval shifted back
    by the resamples' mean excess over the value (the bootstrap estimate of that bias, Efron and
    Tibshirani 1993, ch. 10). KID is unbiased (``intervals``' kernel resampling) and a mean is
    too: their intervals are the plain percentiles."""
    r, n = evidence.shape
    items = np.arange(n) if items is None else np.asarray(items, int)
    if evidence.kind in ("fid", "kid"):
        n_boot = min(n_boot, N_BOOT_FID)
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        draws[b] = evidence.value(items[rng.integers(0, len(items), len(items))], rng.integers(0, r, r))
    draws = draws[np.isfinite(draws)]
    value = evidence.value(items)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail]) if len(draws) else (math.nan, math.nan)
    if evidence.kind == "fid" and len(draws):
        excess = float(draws.mean()) - value
        low, high = low - excess, high - excess
    return Interval(value, float(low), float(high), len(items), r)


def per_pathology(cells: dict[tuple[str, str], Evidence], labels: Sequence[str], min_items: int = 2,
                  n_boot: int = N_BOOT_CELL, seed: int = 0, everything: str = "all findings") -> pd.DataFrame:
    """Every cell recomputed on the findings of each pathology, with its interval.

    cells: (row, column) -> Evidence over the same N findings (a table's evidence,
    ``intervals.load_evidence``); labels: ``(N,)`` the pathology of each finding. A pathology
    with fewer than ``min_items`` findings is left out (FID needs 2; few findings give wide
    intervals, which the ``n`` column shows). Returns a long table, one row per (pathology,
    row, column): ``pathology``, ``n``, ``row``, ``column``, ``value``, ``low``, ``high``,
    ``better``; ``everything`` names the rows over all findings (first)."""
    labels = np.asarray(labels, dtype=object)
    sizes = {ev.shape[1] for ev in cells.values()}
    if sizes and sizes != {len(labels)}:
        raise ValueError(f"per_pathology: {len(labels)} labels for cells over {sorted(sizes)} findings")
    groups = [(everything, np.arange(len(labels)))]
    groups += [(str(p), np.flatnonzero(labels == p)) for p in sorted(set(labels.tolist()), key=str)]
    out = []
    for pathology, items in groups:
        if len(items) < min_items:
            continue
        for (row, column), ev in cells.items():
            iv = cell_interval(ev, items, n_boot, seed)
            out.append({"pathology": pathology, "n": len(items), "row": row, "column": column, "value": iv.value,
                        "low": iv.low, "high": iv.high, "better": ev.better})
    return pd.DataFrame(out, columns=["pathology", "n", "row", "column", "value", "low", "high", "better"])


def pathology_table(long: pd.DataFrame, everything: str = "all findings", digits: int = 3) -> pd.DataFrame:
    """``per_pathology``'s long table as a reader's table: one row per (pathology, n, row) of the
    pathologies (``everything`` left out), one column per metric, each cell ``value [low, high]``
    with ``digits`` significant digits (chapters 08 and 09)."""
    part = long[long.pathology != everything].copy()
    part["cell"] = [f"{v:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"
                    for v, lo, hi in part[["value", "low", "high"]].to_numpy()]
    return part.pivot_table(index=["pathology", "n", "row"], columns="column", values="cell", aggfunc="first")
