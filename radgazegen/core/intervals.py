"""95% intervals over findings and seeds for the claim checks (chapter 14).

A table cell is a number computed from generated images: the mean of a per-image score
(SSIM, PSNR, a pointing-game hit), or the FID of a set of images against the real ones. Its
``Evidence`` keeps what it is computed from, per seed (replicate) r and test finding i, so
the cell can be recomputed on a resample of both:

- ``kind="mean"``: ``values`` ``(R, N)``; the cell is the mean over findings, then over seeds;
- ``kind="fid"``: ``features`` ``(R, N, D)`` of the generated images and ``real`` ``(N, D)``
  of the real test images (item i generated from real image i's prompt and controls); the
  cell is the Fréchet distance of each seed's set to the real set, averaged over seeds;
- ``kind="kid"``: the same arrays; the cell is KID, the unbiased squared MMD with the cubic
  polynomial kernel of Bińkowski et al. (2018), as torchmetrics' ``poly_mmd`` (the maths of its
  ``KernelInceptionDistance``) computes it on the whole set of each seed, averaged over seeds
  (``radgazegen.metrics.fidelity.kid`` gives the same value through the metric class). The kernel
  matrices (torchmetrics' ``poly_kernel``) are computed once; a resample averages them over
  its pairs of draws of distinct findings, plus, across real and generated, each draw's own
  pair (real i, generated i): two draws of one finding are that finding's diagonal, as in the
  whole set (counting them as a pair would bias KID, up through k(x, x), down through the
  paired cross terms);
- ``kind="labels"``: a classifier's output ``values`` ``(R, N)`` on N test images (a score per
  image for ``statistic="auc"``, a predicted class index for the others) against their
  ``truth`` ``(N,)``; the cell is ``statistic`` (``STATISTICS``) per seed, times ``scale``
  (100 for Table 3's AUC in %), averaged over seeds. ``subset`` (class indices) restricts
  ``"mean_recall"`` to a group (Table 4's head, medium, tail). A resample on which the
  statistic is undefined (AUC with one class) is left out of the percentiles.

Two cells (say RadGazeGen and ControlNet on the Canny control) are compared by a paired
bootstrap: each of ``n_boot`` resamples draws N findings and R seeds with replacement, the same
for both cells, and recomputes both; the interval is the 2.5th to 97.5th percentile of the
difference (percentile bootstrap). A claim is supported only when the interval excludes 0 on
the side the claim says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Resamples per comparison (the interval's percentiles are read off these); FID and KID cells,
#: each resample of which costs one SVD or three kernel matrices per seed, get at most ``N_BOOT_FID``.
N_BOOT = 1000
N_BOOT_FID = 300


@dataclass
class Evidence:
    """What one table cell is computed from (module docstring). ``better``: "higher" or
    "lower", the direction the table reads (FID lower, SSIM or hit rate higher)."""
    kind: str
    better: str
    values: np.ndarray | None = None
    features: np.ndarray | None = None
    real: np.ndarray | None = None
    truth: np.ndarray | None = None
    subset: np.ndarray | None = None
    statistic: str = ""
    scale: float = 1.0
    _kernels: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in ("mean", "fid", "kid", "labels"):
            raise ValueError(f"Evidence.kind: expected 'mean', 'fid', 'kid' or 'labels', got {self.kind!r}")
        if self.kind == "labels":
            if self.statistic not in STATISTICS:
                raise ValueError(f"Evidence(labels).statistic: expected one of {sorted(STATISTICS)}, got {self.statistic!r}")
            if self.values is None or np.ndim(self.values) != 2 or np.shape(self.truth) != np.shape(self.values)[1:]:
                raise ValueError(f"Evidence(labels): expected values (R, N) and truth (N,), got "
                                 f"{np.shape(self.values)} and {np.shape(self.truth)}")
            return
        if self.better not in ("higher", "lower"):
            raise ValueError(f"Evidence.better: expected 'higher' or 'lower', got {self.better!r}")
        data = self.values if self.kind == "mean" else self.features
        if data is None or np.ndim(data) != (2 if self.kind == "mean" else 3):
            raise ValueError(f"Evidence({self.kind}): expected {'values (R, N)' if self.kind == 'mean' else 'features (R, N, D)'}")
        if self.kind in ("fid", "kid") and (self.real is None or np.shape(self.real) != np.shape(data)[1:]):
            raise ValueError(f"Evidence({self.kind}): real features must be (N, D) = {np.shape(data)[1:]}, got {np.shape(self.real)}")

    @property
    def shape(self) -> tuple[int, int]:
        """(R seeds, N findings)."""
        data = self.features if self.kind in ("fid", "kid") else self.values
        return int(data.shape[0]), int(data.shape[1])

    def value(self, items: np.ndarray | None = None, seeds: np.ndarray | None = None) -> float:
        """The cell on findings ``items`` and seeds ``seeds`` (index arrays, repeats allowed; all when None)."""
        r, n = self.shape
        items = np.arange(n) if items is None else items
        seeds = np.arange(r) if seeds is None else seeds
        if self.kind == "mean":
            return float(self.values[np.ix_(seeds, items)].mean())
        if self.kind == "labels":
            stat = STATISTICS[self.statistic]
            per_seed = [stat(self.truth[items], self.values[s][items], self.subset) for s in seeds]
            return float(np.mean(per_seed)) * self.scale  # NaN when undefined on this resample
        if self.kind == "kid":
            return self._kid(np.asarray(items), seeds)
        real = self.real[items]
        return float(np.mean([frechet_distance(real, self.features[s][items]) for s in seeds]))

    def _kid(self, items: np.ndarray, seeds: np.ndarray) -> float:
        """KID on ``items`` from the kernel matrices (module docstring); NaN when every item is one finding."""
        if self._kernels is None:
            import torch
            from torchmetrics.image.kid import poly_kernel

            real = torch.from_numpy(np.asarray(self.real, np.float64))
            gen = [torch.from_numpy(np.asarray(f, np.float64)) for f in self.features]
            self._kernels = (poly_kernel(real, real).numpy(), np.stack([poly_kernel(g, g).numpy() for g in gen]),
                             np.stack([poly_kernel(real, g).numpy() for g in gen]))
        k_xx, k_yy, k_xy = self._kernels
        pairs = items[:, None] != items[None, :]
        if not pairs.any():
            return float("nan")
        cross = pairs | np.eye(len(items), dtype=bool)  # each drawn finding's own (real, generated) pair once
        cell = np.ix_(items, items)
        xx = k_xx[cell][pairs].mean()
        return float(np.mean([xx + k_yy[s][cell][pairs].mean() - 2.0 * k_xy[s][cell][cross].mean() for s in seeds]))


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """FID's Fréchet distance between the Gaussians fitted to ``(n, D)`` feature sets (unbiased
    covariances, as torchmetrics): ``|mu_1 - mu_2|^2 + tr S_1 + tr S_2 - 2 tr (S_1 S_2)^(1/2)``.

    With centred features A, B (n x D each), tr (S_1 S_2)^(1/2) is the sum of the singular
    values of A Bᵀ / (n - 1) (an n x n matrix): exact, and cheap when n is a few hundred
    findings and D is 2,048 Inception features."""
    a = np.asarray(real, np.float64)
    b = np.asarray(generated, np.float64)
    if a.ndim != 2 or b.shape != a.shape or len(a) < 2:
        raise ValueError(f"frechet_distance: expected two (n >= 2, D) arrays of one shape, got {a.shape} and {b.shape}")
    n = len(a)
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = a - mu_a, b - mu_b
    trace_a, trace_b = (ca ** 2).sum() / (n - 1), (cb ** 2).sum() / (n - 1)
    cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / (n - 1)
    return float(((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2.0 * cross)


def kernel_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """KID of two ``(n, D)`` feature sets of one size (n >= 2): torchmetrics' ``poly_mmd``, the
    unbiased squared MMD with kernel ``(x . y / D + 1)^3`` (Bińkowski et al. 2018), in float64.
    About 0 (it can be slightly negative) for sets from one distribution."""
    import torch
    from torchmetrics.image.kid import poly_mmd

    a = np.asarray(real, np.float64)
    b = np.asarray(generated, np.float64)
    if a.ndim != 2 or b.shape != a.shape or len(a) < 2:
        raise ValueError(f"kernel_distance: expected two (n >= 2, D) arrays of one shape, got {a.shape} and {b.shape}")
    return float(poly_mmd(torch.from_numpy(a), torch.from_numpy(b)))


def auc(truth: np.ndarray, score: np.ndarray, subset=None) -> float:
    """ROC AUC of ``score`` for binary ``truth`` (the Mann-Whitney form, ties counted half, as
    scikit-learn's ``roc_auc_score``); NaN when ``truth`` holds one class."""
    from scipy.stats import rankdata

    truth = np.asarray(truth) > 0.5
    n_pos = int(truth.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _recalls(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class recall over the classes 0..K-1 and which of them occur in ``truth``."""
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    k = int(max(truth.max(initial=0), predicted.max(initial=0))) + 1
    support = np.bincount(truth, minlength=k)
    correct = np.bincount(truth[truth == predicted], minlength=k)
    present = support > 0
    return np.divide(correct, support, out=np.zeros(k), where=present), present


def mean_recall(truth: np.ndarray, predicted: np.ndarray, subset=None) -> float:
    """Mean per-class recall over the classes of ``subset`` (all when None) that occur in
    ``truth`` (``metrics.long_tail_report``'s group accuracy; over all classes it is balanced
    accuracy); NaN when none occurs."""
    recall, present = _recalls(truth, predicted)
    keep = present.copy()
    if subset is not None:
        keep[:] = False
        idx = np.asarray(subset, int)
        keep[idx[idx < len(keep)]] = True
        keep &= present
    return float(recall[keep].mean()) if keep.any() else float("nan")


def macro_f1(truth: np.ndarray, predicted: np.ndarray, subset=None) -> float:
    """Macro-F1 over the classes that occur in ``truth`` (scikit-learn's ``f1_score`` with those
    labels, ``zero_division=0``)."""
    truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
    recall, present = _recalls(truth, predicted)
    k = len(present)
    n_pred = np.bincount(predicted, minlength=k)
    correct = np.bincount(truth[truth == predicted], minlength=k)
    precision = np.divide(correct, n_pred, out=np.zeros(k), where=n_pred > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    return float(f1[present].mean())


#: ``Evidence(kind="labels").statistic`` -> function(truth (N,), values (N,), subset) -> float.
STATISTICS = {"auc": auc, "mean_recall": mean_recall, "macro_f1": macro_f1}


@dataclass
class Difference:
    """``a - b`` of two cells with its percentile-bootstrap interval, and whether the interval
    excludes 0 on the side where ``a`` is better (``favours_a``) or worse (``favours_b``)."""
    difference: float
    low: float
    high: float
    better: str
    n_items: int
    n_seeds: int

    @property
    def favours_a(self) -> bool:
        return self.high < 0 if self.better == "lower" else self.low > 0

    @property
    def favours_b(self) -> bool:
        return self.low > 0 if self.better == "lower" else self.high < 0

    def text(self, digits: int = 3) -> str:
        """``+d [low, high]`` with ``digits`` significant digits."""
        return f"{self.difference:+.{digits}g} [{self.low:+.{digits}g}, {self.high:+.{digits}g}]"


def paired_difference(a: Evidence, b: Evidence, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95) -> Difference:
    """``a - b`` with a paired percentile-bootstrap interval over findings and seeds (module
    docstring). ``a`` and ``b`` must cover the same findings (N) and read the same way; seeds
    are resampled as indices into each cell's own R (equal R: the same draws)."""
    (ra, n), (rb, nb) = a.shape, b.shape
    if n != nb or a.better != b.better:
        raise ValueError(f"paired_difference: cells differ in findings ({n} vs {nb}) or direction ({a.better} vs {b.better})")
    if {"fid", "kid"} & {a.kind, b.kind}:
        n_boot = min(n_boot, N_BOOT_FID)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        items = rng.integers(0, n, n)
        seeds = rng.integers(0, max(ra, rb), max(ra, rb))
        diffs[k] = a.value(items, seeds % ra) - b.value(items, seeds % rb)
    diffs = diffs[np.isfinite(diffs)]  # resamples on which a statistic is undefined (AUC with one class)
    if not len(diffs):
        raise ValueError(f"paired_difference: the statistic is undefined on every resample of {n} items")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Difference(a.value() - b.value(), float(low), float(high), a.better, n, max(ra, rb))


_ARRAYS = ("values", "features", "real", "truth", "subset")


def save_evidence(path: str | Path, cells: dict[tuple[str, str], Evidence]) -> Path:
    """``cells`` ((row, column) -> Evidence) as one ``.npz`` (written atomically)."""
    from radgazegen.core.io import atomic_path

    arrays = {}
    for i, ((row, column), ev) in enumerate(cells.items()):
        arrays[f"{i}.key"] = np.array([row, column, ev.kind, ev.better, ev.statistic, repr(float(ev.scale))])
        for name in _ARRAYS:
            if getattr(ev, name) is not None:
                arrays[f"{i}.{name}"] = np.asarray(getattr(ev, name), np.float32)
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return Path(path)


def load_evidence(path: str | Path) -> dict[tuple[str, str], Evidence]:
    """What ``save_evidence`` wrote; a missing file raises ``FileNotFoundError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no per-finding evidence for this table")
    out = {}
    with np.load(path) as z:
        for key in sorted((k for k in z.files if k.endswith(".key")), key=lambda k: int(k.split(".")[0])):
            i = key.split(".")[0]
            row, column, kind, better, statistic, scale = (str(x) for x in z[key])
            arrays = {name: z[f"{i}.{name}"] for name in _ARRAYS if f"{i}.{name}" in z.files}
            out[(row, column)] = Evidence(kind, better, statistic=statistic, scale=float(scale), **arrays)
    return out
