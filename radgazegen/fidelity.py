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
- **FRD**, a Fréchet Radiomics Distance: the Fréchet distance (torchmetrics'
  ``FrechetInceptionDistance`` with an identity extractor) between radiomics features of real
  and generated images, z-scored by the real set (as FRD v1, Konz et al. 2025). pyradiomics
  cannot be installed from this machine's package index (3.1.0 is a source release whose build
  fails: its build needs numpy and versioneer it does not declare), so the features are the
  study's own radiomics maps' statistics (``radiomics_features``): mean, standard deviation,
  skewness, kurtosis and entropy of the image and of its Canny, Sobel and LoG maps
  (``radgazegen.controls``, the Rad-CN controls), and with lung masks the same inside the mask
  plus the mask's area. The metric's name says so: ``FRD (radiomics-map statistics)``, not
  pyradiomics' FRD.

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

from radgazegen.intervals import N_BOOT_FID, Evidence

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
    real_radii = compute_nearest_neighbour_distances(real, k)
    fake_radii = compute_nearest_neighbour_distances(generated, k)
    d = compute_pairwise_distance(real, generated)
    in_real_ball = d < real_radii[:, None]
    return {"precision": in_real_ball.any(axis=0).astype(np.float64),
            "recall": (d < fake_radii[None, :]).any(axis=1).astype(np.float64),
            "density": in_real_ball.sum(axis=0) / float(k),
            "coverage": (d.min(axis=1) < real_radii).astype(np.float64)}


# ---------------------------------------------------------------- Fréchet Radiomics Distance

#: The images a radiomics feature is computed on (the image, then the Rad-CN maps) and the
#: statistics of each (``radiomics_features``).
RADIOMICS_SOURCES = ("image", "canny", "sobel", "gl")
RADIOMICS_STATISTICS = ("mean", "std", "skewness", "kurtosis", "entropy")
#: Bins of the 0..255 histogram whose Shannon entropy (bits) is the ``entropy`` statistic.
ENTROPY_BINS = 32
FRD_FEATURES = "radiomics-map statistics"


def _statistics(values: np.ndarray) -> list[float]:
    """mean, std, skewness, excess kurtosis (standardised moments; 0 and 0 for a constant map)
    and histogram entropy in bits of ``values`` in 0..255."""
    if not values.size:
        return [0.0] * len(RADIOMICS_STATISTICS)
    v = values.astype(np.float64)
    mean, std = float(v.mean()), float(v.std())
    if std > 0:
        z = (v - mean) / std
        skew, kurt = float((z ** 3).mean()), float((z ** 4).mean() - 3.0)
    else:
        skew = kurt = 0.0
    counts = np.histogram(v, bins=ENTROPY_BINS, range=(0.0, 256.0))[0]
    p = counts[counts > 0] / v.size
    return [mean, std, skew, kurt, float(-(p * np.log2(p)).sum())]


def radiomics_features(images: np.ndarray, lung_masks: np.ndarray | None = None,
                       size: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Per image, the statistics ``RADIOMICS_STATISTICS`` of the image and of its Canny, Sobel
    and LoG maps (``radgazegen.controls`` with the controls' parameters), computed on the whole
    image; with ``lung_masks`` also inside the mask (pyradiomics' region-of-interest
    convention) and the mask's area fraction.

    images: ``(N, H, W)`` uint8; lung_masks: ``(N, H, W)``, > 0 inside (the same segmenter for
    real and generated images, or the distance measures the segmenters); size: resample both
    to ``size`` x ``size`` first (area interpolation), so real and generated sets of different
    sizes are measured alike. Returns ``(N, D)`` float64 (D = 20, or 41 with masks) and the
    ``D`` feature names (``"sobel.entropy"``, ``"lung.gl.std"``, ``"lung.area"``)."""
    import cv2

    from radgazegen import controls

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"radiomics_features: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    if lung_masks is not None and np.shape(lung_masks) != images.shape:
        raise ValueError(f"radiomics_features: lung masks {np.shape(lung_masks)} differ from the images {images.shape}")
    names = [f"{s}.{t}" for s in RADIOMICS_SOURCES for t in RADIOMICS_STATISTICS]
    if lung_masks is not None:
        names += [f"lung.{n}" for n in names] + ["lung.area"]
    rows = []
    for i, image in enumerate(images):
        mask = None if lung_masks is None else np.asarray(lung_masks[i]) > 0
        if size is not None and image.shape != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            if mask is not None:
                mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
        maps = [image, controls.canny(image, size=None), controls.sobel(image, size=None),
                controls.gaussian_laplace(image, size=None)]
        row = [s for m in maps for s in _statistics(m)]
        if mask is not None:
            row += [s for m in maps for s in _statistics(m[mask])] + [float(mask.mean())]
        rows.append(row)
    return np.asarray(rows, np.float64).reshape(len(images), len(names)), names


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


def frechet_radiomics_distance(real_images: np.ndarray, generated_images: np.ndarray,
                               real_masks: np.ndarray | None = None, generated_masks: np.ndarray | None = None,
                               size: int | None = None) -> Score:
    """FRD of ``(N_gen, H, W)`` uint8 generated against ``(N_real, H', W')`` uint8 real images:
    ``radiomics_features`` of both (with lung masks when both are given; at ``size`` when the
    sets differ in size), z-scored by the real set, then the Fréchet distance. Named
    ``"FRD (radiomics-map statistics)"`` (``"... + lung mask"`` with masks): the study's maps'
    statistics, not pyradiomics (module docstring). Lower is better; 0 for identical sets."""
    if (real_masks is None) != (generated_masks is None):
        raise ValueError("frechet_radiomics_distance: give lung masks for both sets or for neither")
    if size is None and np.shape(real_images)[1:] != np.shape(generated_images)[1:]:
        raise ValueError(f"frechet_radiomics_distance: image sizes differ ({np.shape(real_images)[1:]} vs "
                         f"{np.shape(generated_images)[1:]}); give size=")
    real, _ = radiomics_features(real_images, real_masks, size)
    generated, _ = radiomics_features(generated_images, generated_masks, size)
    real, generated = standardise(real, generated)
    return frechet_distance_of(real, generated, "FRD", FRD_FEATURES + (" + lung mask" if real_masks is not None else ""))


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


def radiomics_evidence(real_images: np.ndarray, generated_images: np.ndarray, real_masks: np.ndarray | None = None,
                       generated_masks: np.ndarray | None = None, size: int | None = None) -> Evidence:
    """FRD of one cell as ``Evidence(kind="fid")``: ``real_images`` ``(N, H, W)`` uint8, the
    generated ``(R, N, H, W)`` (masks alike, or None), through ``radiomics_features`` z-scored by
    the real set (``frechet_radiomics_distance``; intervals.frechet_distance recomputes it on
    resampled findings)."""
    generated_images = np.asarray(generated_images)
    if generated_images.ndim != 4 or len(generated_images[0]) != len(real_images):
        raise ValueError(f"radiomics_evidence: generated images must be (R, N, H, W) with N = {len(real_images)}, "
                         f"got {generated_images.shape}")
    real, _ = radiomics_features(real_images, real_masks, size)
    generated = [radiomics_features(g, None if generated_masks is None else generated_masks[r], size)[0]
                 for r, g in enumerate(generated_images)]
    real, generated = standardise(real, np.stack(generated))
    return Evidence("fid", "lower", features=generated, real=real)


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
