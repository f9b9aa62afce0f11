"""Does the finding appear where the gaze put it? The pointing game on the cohort's ground truth
(chapter 13; {cite:t}`bhattacharya2024radgazegen` §4.3, Fig. 5).

A lesion localiser is trained on the real training images and their ground-truth boxes
(``train_localiser_on_boxes``); each method's generated test images are scored by whether the
localiser's strongest response lies inside the box of the finding behind the gaze
(``pointing_cells``, through the one table builder ``tables.build``: the hit rate of
Eq. 13-pointing per method, beside the chance of a random point, the mean box area fraction,
and the floor that knows the finding but not the image, ``fixed_point_hits``). Boxes come from the study's one lookup, ``controls.gaze.finding_boxes``.

Shapes: R px images and masks; box masks ``(N, R, R)`` float32 in {0, 1}; boxes
``(x0, y0, x1, y1)`` in pixels of the image, or of the ``R x R`` grid where a size is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from radgazegen.controls import gaze
from radgazegen.core.intervals import Evidence, save_evidence
from radgazegen.core.vocabulary import HVA, RADIOMICS_CONTROLS
from radgazegen.generation import methods
from radgazegen.metrics import box_masks, counterfactual, evaluation, pointing_game, tables

#: The row of the real test images (the localiser's ceiling) and of the two floors.
REAL = "real test images"
CHANCE = "chance"
FIXED_POINT = "fixed point per label"


def image_sizes(items: Sequence) -> list[tuple[int, int]]:
    """``(width, height)`` in pixels of each item's image file (``training_data.Item``), in order.
    Used by chapter 13."""
    from PIL import Image

    return [Image.open(it.image_path).size for it in items]


@dataclass
class FittedLocaliser:
    """A localiser trained on boxes: ``localiser`` (``standins.Localiser``), its per-epoch training
    ``losses``, the training images' ``sizes`` (w, h) and their box masks ``y`` ``(N, R, R)``."""
    localiser: object
    losses: list
    sizes: list
    y: np.ndarray

    def summary(self) -> str:
        """One line: training images, how many have a lesion, the loss from first to last epoch."""
        n = len(self.y)
        return (f"localiser: {n} training images, {int((self.y.reshape(n, -1).max(1) > 0).sum())} with lesions; "
                f"loss {self.losses[0]:.3f} -> {self.losses[-1]:.3f}")


def train_localiser_on_boxes(train: Sequence, truth: pd.DataFrame, size: int, epochs: int, seed: int = 0) -> FittedLocaliser:
    """Train the lesion localiser (``standins.train_localiser``) on the ``train`` items' images at
    ``size`` px (``(N, size, size)`` uint8) against the masks of all their ground-truth boxes
    (``(N, size, size)``, 1 inside a box). Used by chapter 13."""
    from radgazegen import standins
    from radgazegen.models import training_data

    sizes = image_sizes(train)
    x = np.stack([training_data.read_gray(it.image_path, size, "radiograph") for it in train])
    y = box_masks([gaze.finding_boxes(truth, it.dicom_id) for it in train], sizes, size)
    localiser, losses = standins.train_localiser(x, y, epochs=epochs, size=size, seed=seed)
    return FittedLocaliser(localiser, losses, sizes, y)


def test_masks(truth: pd.DataFrame, ids: Sequence[str], findings: Sequence[str], sizes: dict, size: int
               ) -> tuple[np.ndarray, np.ndarray, float]:
    """The box masks of the N test findings (image ``ids[i]``, label ``findings[i]``, image size
    ``sizes[ids[i]]``): ``(N, size, size)`` float32; ``keep`` ``(N,)`` bool, the findings that
    have a box; and the chance of Eq. 13-pointing, the mean area fraction of the kept masks in
    [0, 1] (NaN when none is kept). Used by chapter 13."""
    masks = box_masks([gaze.finding_boxes(truth, d, f) for d, f in zip(ids, findings)], [sizes[d] for d in ids], size)
    keep = masks.reshape(len(masks), -1).max(1) > 0  # items whose finding has a box
    chance = float(masks[keep].mean()) if keep.any() else float("nan")
    return masks, keep, chance


def sees_gaze(gen) -> dict[str, str]:
    """The methods the pointing game compares (those ``gen``, ``evaluation.load_generated``'s
    result, generated): SD, Rad-CN, the single-control gaze baselines, Multi-ControlNet, HVA-CN,
    RadGazeGen; each mapped to "yes" where it is given the HVA control, else "no". Used by
    chapter 13."""
    gaze_baselines = [gen.methods.single(f, HVA) for f in (methods.SINGLE_CONTROLNET, methods.T2I_ADAPTER)]
    compared = [methods.SD, methods.RAD_CN, *(m.name for m in gaze_baselines if m is not None), methods.MULTI_CONTROLNET,
                methods.HVA_CN, methods.RADGAZEGEN]
    return {n: "yes" if gen.methods[n].uses_gaze else "no" for n in compared if n in gen.images}


def fixed_point_hits(train: Sequence, sizes: Sequence[tuple[int, int]], truth: pd.DataFrame, size: int,
                     masks: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """The floor that knows the finding but not the image: per label one fixed grid point, inside
    the most training boxes of that label (``counterfactual.fixed_point_prior``, from each
    ``train`` item of image size ``sizes[i]`` and each of its labels), scored on the test
    findings' ``(N, size, size)`` ``masks`` with ``labels``: ``(N,)`` float32 hits in {0, 1}.
    Used by chapter 13."""
    size_of = dict(zip((it.dicom_id for it in train), sizes))
    train_f = [(it, lab) for it in train for lab in truth[truth.dicom_id == it.dicom_id].label.unique()]
    prior = counterfactual.fixed_point_prior(
        box_masks([gaze.finding_boxes(truth, it.dicom_id, lab) for it, lab in train_f], [size_of[it.dicom_id] for it, _ in train_f],
                  size), [lab for _, lab in train_f])
    return counterfactual.prior_hits(prior, masks, labels)


def pointing_measure(localiser, masks: np.ndarray, keep: np.ndarray):
    """``tables.Measure`` of the pointing game (Eq. 13-pointing): per replicate of ``(N, R, R)``
    uint8 images, the ``(K,)`` hits of the localiser's peak in the kept findings' boxes
    (``masks[keep]``); the cell's hit rate in [0, 1] (mean, std over replicates) and
    ``Evidence("mean", "higher")`` of the ``(replicates, K)`` hits. Used by chapter 13."""
    def measure(replicates: list[np.ndarray], key=None) -> tuple[float, float, Evidence]:
        hits = np.stack([pointing_game(localiser.logits(ims[keep]), masks[keep]) for ims in replicates])  # (R, K)
        m, s = evaluation.per_replicate(np.mean, list(hits))
        return m, s, Evidence("mean", "higher", values=hits)
    return measure


def pointing_cells(localiser, candidates: dict, masks: np.ndarray, keep: np.ndarray, prior_hit: np.ndarray
                   ) -> tuple[dict, dict, dict]:
    """The pointing game per method, through the study's one table builder (``tables.build``,
    one column "hit rate", ``pointing_measure``): ``candidates`` maps a row name to its
    replicates of ``(N, R, R)`` uint8 images of the test findings, ``masks`` ``(N, R, R)``
    their boxes, ``keep`` ``(N,)`` bool the findings scored (those with a box; K of them),
    ``prior_hit`` ``(K,)`` the fixed-point floor (``fixed_point_hits``). Returns
    ``(mean, std, cells)``: hit rate in [0, 1] per row over replicates (the floor's std 0) and
    ``Evidence`` per (row, "hit rate") with ``(replicates, K)`` hits, then the chance row (each
    finding's box area fraction) and the floor. Used by chapter 13."""
    table = tables.build(list(candidates), {"hit rate": "hit rate"}, lambda row, key: row,
                         pointing_measure(localiser, masks, keep), candidates)
    mean = {name: table.mean.loc[name, "hit rate"] for name in candidates}
    std = {name: table.std.loc[name, "hit rate"] for name in candidates}
    cells = dict(table.cells)
    # a random point hits a finding's box with probability its area fraction: chance per finding
    cells[(CHANCE, "hit rate")] = Evidence("mean", "higher", values=masks[keep].mean((1, 2))[None])
    cells[(FIXED_POINT, "hit rate")] = Evidence("mean", "higher", values=prior_hit[None])
    mean[FIXED_POINT], std[FIXED_POINT] = float(prior_hit.mean()), 0.0
    return mean, std, cells


def pointing_frame(mean: dict, chance: float, sees: dict[str, str]) -> pd.DataFrame:
    """Chapter 13's pointing-game table: per row its hit rate, the chance and whether it "sees
    the gaze" ("(real)" for the real images, "(floor)" for the floors). Used by chapter 13."""
    frame = pd.DataFrame({"hit rate": mean, "chance": chance})
    frame["sees the gaze"] = [sees.get(n, "(real)" if n == REAL else "(floor)") for n in frame.index]
    return frame


def save_pointing(run, frame: pd.DataFrame, std: dict, cells: dict, n_items: int, profile: str, replicates: int) -> None:
    """``results/localisation`` (hit rate and chance per row, with the std over replicates) and its
    evidence per finding and seed (chapter 14's claim; none when ``n_items`` is 0). Used by
    chapter 13."""
    evaluation.save_result(run, "localisation", frame[["hit rate", "chance"]],
                           pd.DataFrame({"hit rate": std, "chance": 0.0}),
                           {"profile": profile, "n_items": n_items, "replicates": replicates})
    save_evidence(run.evidence_path("localisation"), cells if n_items else {})


def pointing_summary(mean: dict | None = None, sees: dict | None = None, chance: float = float("nan"),
                     n_items: int = 0, replicates: int = 0) -> dict:
    """The values chapter 13 glues about the pointing game: the number of findings, the chance,
    the real images', RadGazeGen's and SD's hit rates, the best rate of the methods that see the
    gaze and of those that do not, how many see it and how many of those beat every blind one.
    Without ``mean`` (no ground truth, no box): zeros and NaN. Used by chapter 13."""
    nan = float("nan")
    if mean is None:
        return {**{k: 0 for k in ("n_items", "n_gaze_methods", "n_gaze_above_blind", "n_replicates")},
                **{k: nan for k in ("chance", "hit_real", "hit_rg", "hit_sd", "best_gaze", "best_blind")}}
    gaze_rates = [mean[n] for n in mean if sees.get(n) == "yes"]
    blind_rates = [mean[n] for n in mean if sees.get(n) == "no"]
    return {"n_items": n_items, "chance": chance, "hit_real": float(mean[REAL]),
            "hit_rg": float(mean.get(methods.RADGAZEGEN, nan)), "hit_sd": float(mean.get(methods.SD, nan)),
            "best_gaze": float(max(gaze_rates, default=nan)), "best_blind": float(max(blind_rates, default=nan)),
            "n_gaze_methods": len(gaze_rates),
            "n_gaze_above_blind": int(sum(r > max(blind_rates, default=nan) for r in gaze_rates)),
            "n_replicates": replicates}


def finding_free_conditioning(train: Sequence, truth: pd.DataFrame, n: int, size: int, seed: int = 0) -> tuple[list, dict]:
    """The radiomics controls of ``n`` finding-free training images (no ground-truth finding),
    drawn at random with replacement (``numpy.random.default_rng(seed)``), never from a scored
    image: returns ``(free, conditioning)``, the finding-free items and the conditioning
    (control name -> ``(n, 3, size, size)`` tensor in [0, 1]); all-zero maps when no training
    image is finding-free. RadGazeGen's Rad-CN controls in the primary and the moved-gaze tests.
    Used by chapter 13."""
    from radgazegen.models import training_data

    with_finding = set(truth.dicom_id)
    free = [it for it in train if it.dicom_id not in with_finding]
    rng = np.random.default_rng(seed)
    if free:
        picked = [free[j] for j in rng.integers(0, len(free), n)]
        return free, training_data.ControlDataset(picked, size, controls=RADIOMICS_CONTROLS)(np.arange(n)).conditioning
    return free, training_data.conditioning({c: np.zeros((n, size, size), np.uint8) for c in RADIOMICS_CONTROLS}, size)


def gaze_controls_of(items: Sequence, keys: Sequence[tuple[str, str]], size: int) -> np.ndarray:
    """The HVA control of each (dicom_id, finding) in ``keys``, taken from the gaze ``items`` with
    that key (``training_data.run_items(..., gaze=True)``): ``(N, 3, size, size)`` float32 in
    [0, 1]. Used by chapter 13."""
    from radgazegen.models import training_data

    by = {(it.dicom_id, it.finding): it for it in items}
    return training_data.ControlDataset([by[k] for k in keys], size, controls=[HVA])(
        np.arange(len(keys))).conditioning[HVA].numpy()
