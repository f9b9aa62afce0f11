"""Memorisation check: is a generated image a near-copy of a training image?

Diffusion models trained on medical images reproduce training images, more than GANs and
most on small data sets or with over-training (Dar et al. 2024; Akbar et al. 2023; training
images are extracted from Stable Diffusion itself by generating and filtering, Carlini et al.
2023), and a chest radiograph identifies its patient (re-identified with AUC 0.99, Packhäuser et
al. 2022). A generated image close to a training image can therefore disclose a patient.
CheXGenBench (Dutt et al. 2025) reports each generated image's distance to its nearest
training image and a patient re-identification score; this module gives both, on features
and images the caller supplies, with scikit-learn's ``NearestNeighbors``:

- ``memorisation_check``: for every generated image, its nearest training image and the
  distance, in one space (the encoder's features, as FID; or pixels, ``pixel_vectors``), set
  against two references: the training set's own leave-one-out nearest-neighbour distances
  (how close two different training images come) and the held-out test images' distances to
  the training set (how close a new image of the same population comes). A **near-copy** is a
  generated image closer to a training image than the ``percentile``-th percentile (5 by
  default) of the test-to-training distances; the **copy rate** is their share. A model that
  draws new images like the test images has a copy rate of about ``percentile`` / 100 (5 %) by
  construction; a model that copies, far more (``MemorisationCheck.p_value`` tests the excess).
  ``closest_pairs`` gives the pairs for a side-by-side figure.
- ``reidentification``: on a cohort with known patients, does an embedding match each
  generated image to its prompt's patient (top-1 nearest training image) more often than
  chance?
- ``publication_guard``: refuses to publish generated images whose copy rate exceeds the
  user's threshold (default: any near-copy), naming them, unless the user opts in.

Distances are Euclidean unless ``metric`` says otherwise; ``pixel_vectors`` makes the pixel
distance ``sqrt(2 (1 - r))``, r the Pearson correlation of the two downsampled images (0 for a
copy up to brightness and contrast, about 1.4 for unrelated images, 2 at most).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: The test-to-training distance percentile below which a generated image is a near-copy.
COPY_PERCENTILE = 5.0
#: Side of the downsampled images of the pixel-space distance (``pixel_vectors``).
PIXEL_SIZE = 32


class MemorisationError(RuntimeError):
    """Publishing was refused: generated images are near-copies of training images."""


def _features(x, what: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or not len(x) or not np.isfinite(x).all():
        raise ValueError(f"{what}: expected a finite (N, D) array, got shape {x.shape}")
    return x


def pixel_vectors(images: np.ndarray, size: int = PIXEL_SIZE) -> np.ndarray:
    """``(N, H, W)`` uint8 images as ``(N, size * size)`` float64 vectors for a pixel-space
    distance: each image resized to ``size`` x ``size`` (area interpolation, which also makes
    sets of different resolutions comparable), z-scored over its own pixels (a copy with other
    brightness or contrast stays a copy) and divided by ``size`` so that the Euclidean
    distance of two vectors is ``sqrt(2 (1 - r))``, in [0, 2]. A constant image is all zeros."""
    import cv2

    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"pixel_vectors: expected (N, H, W) uint8 images, got {images.dtype} {images.shape}")
    small = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) if im.shape != (size, size) else im
                      for im in images]).reshape(len(images), -1).astype(np.float64)
    small -= small.mean(1, keepdims=True)
    std = small.std(1, keepdims=True)
    return np.divide(small, std * size, out=np.zeros_like(small), where=std > 0)


def nearest(queries: np.ndarray, reference: np.ndarray, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Each of the ``(G, D)`` queries' nearest row of the ``(T, D)`` reference (scikit-learn
    ``NearestNeighbors``): ``(G,)`` distances and ``(G,)`` reference indices."""
    from sklearn.neighbors import NearestNeighbors

    queries, reference = _features(queries, "nearest (queries)"), _features(reference, "nearest (reference)")
    if queries.shape[1] != reference.shape[1]:
        raise ValueError(f"nearest: queries and reference differ in width, {queries.shape[1]} vs {reference.shape[1]}")
    distance, index = NearestNeighbors(n_neighbors=1, metric=metric).fit(reference).kneighbors(queries)
    return distance[:, 0], index[:, 0]


def leave_one_out_nearest(reference: np.ndarray, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest OTHER row of the ``(T, D)`` reference (T >= 2): ``(T,)`` distances
    and indices (a duplicate row is another row, at distance 0)."""
    from sklearn.neighbors import NearestNeighbors

    reference = _features(reference, "leave_one_out_nearest")
    if len(reference) < 2:
        raise ValueError("leave_one_out_nearest: need at least 2 rows")
    distance, index = NearestNeighbors(n_neighbors=2, metric=metric).fit(reference).kneighbors(reference)
    own = index[:, 0] == np.arange(len(reference))  # with duplicates, self need not come first
    pick = np.where(own, 1, 0)
    rows = np.arange(len(reference))
    return distance[rows, pick], index[rows, pick]


def binomial_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) interval of a proportion (scipy ``binomtest``); NaN when no trials."""
    from scipy.stats import binomtest

    if trials <= 0:
        return math.nan, math.nan
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def _p_greater(successes: int, trials: int, chance: float) -> float:
    from scipy.stats import binomtest

    return float(binomtest(int(successes), int(trials), float(chance), alternative="greater").pvalue) if trials else math.nan


@dataclass
class MemorisationCheck:
    """The memorisation check in one space (``memorisation_check``). Distances are in the
    space's units: ``generated`` ``(G,)`` each generated image's distance to its nearest
    training image ``nearest_training`` ``(G,)``; ``training`` ``(T,)`` the training images'
    leave-one-out nearest distances; ``test`` ``(M,)`` the held-out images' distances to
    training; ``threshold``: the ``percentile``-th percentile of ``test``."""
    space: str
    generated: np.ndarray
    nearest_training: np.ndarray
    training: np.ndarray
    test: np.ndarray
    percentile: float
    threshold: float
    level: float = 0.95
    extra: dict = field(default_factory=dict)

    @property
    def copies(self) -> np.ndarray:
        """``(G,)`` bool: the near-copies (closer to a training image than ``threshold``)."""
        return self.generated < self.threshold

    @property
    def n_copies(self) -> int:
        return int(self.copies.sum())

    @property
    def copy_rate(self) -> float:
        """The share of generated images that are near-copies, in [0, 1]."""
        return float(self.copies.mean())

    @property
    def expected_rate(self) -> float:
        """The copy rate of images like the held-out ones (``percentile`` / 100 by construction;
        the share of ``test`` itself below the threshold, which ties can lower)."""
        return float((self.test < self.threshold).mean())

    @property
    def interval(self) -> tuple[float, float]:
        """Clopper-Pearson interval of the copy rate at ``level``."""
        return binomial_interval(self.n_copies, len(self.generated), self.level)

    @property
    def p_value(self) -> float:
        """One-sided binomial test: more near-copies than ``percentile`` / 100 of the images?"""
        return _p_greater(self.n_copies, len(self.generated), self.percentile / 100.0)

    def closest_pairs(self, k: int = 8) -> np.ndarray:
        """``(min(k, G), 2)`` int: (generated index, training index) of the ``k`` closest pairs,
        closest first (ties by generated index): the side-by-side figure's rows."""
        order = np.argsort(self.generated, kind="stable")[:k]
        return np.stack([order, self.nearest_training[order]], axis=1).astype(int)

    def flagged(self, names: Sequence[str]) -> list[str]:
        """The names (``(G,)``, e.g. file names) of the near-copies, closest first."""
        if len(names) != len(self.generated):
            raise ValueError(f"flagged: {len(names)} names for {len(self.generated)} generated images")
        return [str(names[i]) for i in np.argsort(self.generated, kind="stable") if self.copies[i]]

    def summary(self) -> dict:
        """The numbers a table or a JSON record shows (plain Python types)."""
        low, high = self.interval
        return {"space": self.space, "n_generated": len(self.generated), "n_training": len(self.training),
                "n_test": len(self.test), "percentile": self.percentile, "threshold": float(self.threshold),
                "n_copies": self.n_copies, "copy_rate": self.copy_rate, "copy_rate_low": low, "copy_rate_high": high,
                "expected_rate": self.expected_rate, "p_value": self.p_value,
                "generated_median": float(np.median(self.generated)), "training_median": float(np.median(self.training)),
                "test_median": float(np.median(self.test))}


def memorisation_check(generated: np.ndarray, training: np.ndarray, test: np.ndarray, space: str,
                       percentile: float = COPY_PERCENTILE, metric: str = "euclidean",
                       level: float = 0.95) -> MemorisationCheck:
    """The memorisation check of ``(G, D)`` generated against ``(T, D)`` training rows, with
    ``(M, D)`` held-out test rows as the reference (module docstring), in the space named
    ``space`` ("study features", "pixels (32 px, 1 - correlation)"): features, or
    ``pixel_vectors`` of the images. ``percentile`` in (0, 100): where the near-copy threshold
    sits in the test-to-training distances."""
    if not 0 < percentile < 100:
        raise ValueError(f"memorisation_check: percentile must be in (0, 100), got {percentile}")
    generated = _features(generated, "memorisation_check (generated)")
    training = _features(training, "memorisation_check (training)")
    test = _features(test, "memorisation_check (test)")
    g_dist, g_index = nearest(generated, training, metric)
    t_dist, _ = leave_one_out_nearest(training, metric)
    m_dist, _ = nearest(test, training, metric)
    threshold = float(np.percentile(m_dist, percentile))
    return MemorisationCheck(space, g_dist, g_index, t_dist, m_dist, float(percentile), threshold, level)


# ---------------------------------------------------------------- patient re-identification

@dataclass(frozen=True)
class Reidentification:
    """Top-1 patient re-identification of generated images: ``matches`` of ``n`` generated
    images had a nearest training image of their prompt's patient; ``rate`` = matches / n with
    its Clopper-Pearson interval [``low``, ``high``]; ``chance``: the rate if the nearest image
    were a random training image (the mean share of training images of each generated
    image's patient: ``1 / n_patients`` when every patient has as many images);
    ``p_value``: one-sided binomial test of rate > chance."""
    rate: float
    low: float
    high: float
    chance: float
    p_value: float
    matches: int
    n: int
    n_patients: int

    @property
    def above_chance(self) -> bool:
        """The interval's lower bound is above chance."""
        return self.low > self.chance


def reidentification(training_embeddings: np.ndarray, training_patients: Sequence, generated_embeddings: np.ndarray,
                     generated_patients: Sequence, metric: str = "euclidean", level: float = 0.95) -> Reidentification:
    """Does an embedding re-identify the patients of generated images? ``training_embeddings``
    ``(T, D)`` of the training images with their ``(T,)`` patient ids; ``generated_embeddings``
    ``(G, D)`` of generated images with ``(G,)`` the patient id of the prompt each was generated
    from (every one a training patient). A match: the nearest training image (``nearest``) is of
    that patient (top-1). Generated images of one patient are not independent: the binomial
    interval is then optimistic; give one image per prompt when it matters."""
    train_p = np.asarray(training_patients, dtype=object)
    gen_p = np.asarray(generated_patients, dtype=object)
    if len(train_p) != len(training_embeddings) or len(gen_p) != len(generated_embeddings):
        raise ValueError(f"reidentification: {len(train_p)} / {len(gen_p)} patient ids for "
                         f"{len(training_embeddings)} / {len(generated_embeddings)} embeddings")
    counts = {p: int(c) for p, c in zip(*np.unique(train_p.astype(str), return_counts=True))}
    missing = sorted({str(p) for p in gen_p} - set(counts))
    if missing:
        raise ValueError(f"reidentification: generated images' patients not among the training patients: {missing[:10]}")
    _, index = nearest(generated_embeddings, training_embeddings, metric)
    hits = train_p[index].astype(str) == gen_p.astype(str)
    n, matches = len(hits), int(hits.sum())
    chance = float(np.mean([counts[str(p)] / len(train_p) for p in gen_p]))
    low, high = binomial_interval(matches, n, level)
    return Reidentification(matches / n, low, high, chance, _p_greater(matches, n, chance), matches, n, len(counts))


# ---------------------------------------------------------------- the publication guard

def publication_guard(copy_rate: float, threshold: float = 0.0, flagged_names: Sequence[str] = (),
                      opt_in: bool = False, opt_in_hint: str = "opt in to publish them anyway") -> None:
    """Refuse to publish generated images that copy training images.

    Raises ``MemorisationError`` when ``copy_rate`` (in [0, 1], ``MemorisationCheck.copy_rate``)
    exceeds ``threshold`` (the user's; default 0: any near-copy), naming every image of
    ``flagged_names`` (``MemorisationCheck.flagged``), unless ``opt_in``. ``opt_in_hint``: how the
    user opts in (the build's own setting), said in the message. Returns None when it passes."""
    if not 0.0 <= copy_rate <= 1.0 or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"publication_guard: copy rate and threshold are shares in [0, 1], got {copy_rate} and {threshold}")
    if copy_rate <= threshold or opt_in:
        return None
    names = ", ".join(str(n) for n in flagged_names) or "(names not given)"
    raise MemorisationError(
        f"{len(flagged_names)} generated image(s) are near-copies of training images (copy rate "
        f"{copy_rate:.1%} > threshold {threshold:.1%}): {names}. Publishing them could disclose training "
        f"patients: withhold them, raise the threshold, or {opt_in_hint}.")


# ---------------------------------------------------------------- a chapter's checks (chapter 15)

def noisy_copies(images: np.ndarray, sigma: float = 8.0, seed: int = 0) -> np.ndarray:
    """A copier, the check's positive control (chapter 15): ``(N, H, W)`` uint8 training images
    with independent Gaussian noise of ``sigma`` grey levels added, clipped to [0, 255]. A check
    that does not flag these as near-copies cannot catch a model that reproduces its training
    images."""
    images = np.asarray(images)
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    return np.clip(np.rint(images.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def positive_control_reading(copier_flagged: bool, overtrained_flagged: bool, profile: str) -> str:
    """What chapter 15's two controls say about its verdict on the methods: the copier (the
    check's positive control) and the over-trained model (does copying happen at this scale?)."""
    if not copier_flagged:
        return (f"the check missed even the copier, so in the {profile} profile it cannot tell a model that "
                "copies from one that does not, and its verdict on the methods says nothing.")
    if overtrained_flagged:
        return ("the check flags both the copier and the over-trained model: it catches a model that "
                "reproduces its training images, so its verdict on the methods above can be read.")
    return (f"the check flags the copier, so it sees copies when they are there; the over-trained model was not "
            f"flagged: at the {profile} profile's scale those steps on a few images did not make the model "
            "reproduce them, so the profile shows no model that copies and the methods' clean result is the "
            "check's reading, not a demonstration on a model that memorised.")


@dataclass
class Space:
    """One space of the check: ``embed`` maps ``(N, H, W)`` uint8 images to ``(N, D)`` rows;
    ``training`` ``(T, D)`` and ``test`` ``(M, D)``: the training and held-out images in it."""
    name: str
    embed: object
    training: np.ndarray
    test: np.ndarray


def spaces(features, training_images: np.ndarray, test_images: np.ndarray) -> dict[str, Space]:
    """The check's two spaces (chapter 15): ``"features"`` (``features``: images -> ``(N, D)``,
    the encoder of FID) and ``"pixels"`` (``pixel_vectors``), each with the ``(T, H, W)``
    training and ``(M, H, W)`` held-out images embedded once."""
    out = {}
    for name, embed in (("features", features), ("pixels", pixel_vectors)):
        out[name] = Space(name, embed, np.asarray(embed(training_images), np.float64), np.asarray(embed(test_images), np.float64))
    return out


def check_images(images: np.ndarray, by_space: dict[str, Space], percentile: float = COPY_PERCENTILE) -> dict[str, MemorisationCheck]:
    """``memorisation_check`` of ``(G, H, W)`` uint8 generated images in every space of ``by_space``."""
    return {name: memorisation_check(s.embed(images), s.training, s.test, name, percentile) for name, s in by_space.items()}


def checks_table(checks: dict[str, dict[str, MemorisationCheck]]):
    """One row per (method, space): copy rate with its exact 95% interval, the rate new images
    have (about the percentile), the one-sided p-value of the excess, median distances."""
    import pandas as pd

    rows = []
    for method, by_space in checks.items():
        for space, c in by_space.items():
            s = c.summary()
            rows.append({"method": method, "space": space, "copy rate": s["copy_rate"],
                         "95% low": s["copy_rate_low"], "95% high": s["copy_rate_high"],
                         "new images' rate": s["expected_rate"], "p-value": s["p_value"],
                         "near-copies": f"{s['n_copies']} of {s['n_generated']}",
                         "median distance (generated)": s["generated_median"],
                         "median distance (test)": s["test_median"]})
    return pd.DataFrame(rows).set_index(["method", "space"])


def guard_verdict(checks: dict[str, dict[str, MemorisationCheck]], alpha: float = 0.05) -> dict:
    """The publication guard's decision on a run's generated images: ``failed`` when any method's
    copy rate exceeds the rate of new images in any space (one-sided binomial p < ``alpha``);
    ``flagged``: that method's near-copies, as ``"<method>[<index>]"``; ``text``: one line."""
    if not 0 < alpha < 1:
        raise ValueError(f"guard_verdict: alpha must be in (0, 1), got {alpha}")
    failed = {(m, s): c for m, by in checks.items() for s, c in by.items() if c.p_value < alpha}
    flagged = sorted({n for (m, s), c in failed.items() for n in c.flagged([f"{m}[{i}]" for i in range(len(c.generated))])})
    if failed:
        worst = max(failed.items(), key=lambda kv: kv[1].copy_rate)
        text = (f"failed: {len(failed)} method-space pair(s) copy training images more often than new images do "
                f"(p < {alpha}); highest {worst[0][0]} in {worst[0][1]}: {worst[1].copy_rate:.1%}; "
                f"{len(flagged)} image(s) flagged")
    else:
        text = f"passed: no method copies training images more often than new images do (every p >= {alpha})"
    return {"failed": bool(failed), "flagged": flagged, "text": text,
            "copy_rate": max((c.copy_rate for by in checks.values() for c in by.values()), default=0.0)}


def enforce(verdict: dict, opt_in: bool, opt_in_hint: str) -> None:
    """``publication_guard`` on a ``guard_verdict``: raises ``MemorisationError`` naming the
    flagged images when the guard failed, unless ``opt_in``."""
    publication_guard(verdict["copy_rate"] if verdict["failed"] else 0.0, 0.0, verdict["flagged"], opt_in, opt_in_hint)


def check_record(record) -> None:
    """The guard on chapter 15's saved verdict (``results/memorisation.json``: ``guard_verdict``
    plus ``allowed``, the user's opt-in): ``MemorisationError`` naming the file when it is missing
    or when the guard failed without the opt-in."""
    import json
    from pathlib import Path

    record = Path(record)
    if not record.is_file():
        raise MemorisationError(f"{record}: missing; run chapter 15 (the memorisation check) before publishing a full book")
    verdict = json.loads(record.read_text())
    try:
        enforce(verdict, bool(verdict.get("allowed")), "set allow_near_copies: true in params/full/15_memorisation.yml")
    except MemorisationError as exc:
        raise MemorisationError(f"{record}: {exc}") from None
