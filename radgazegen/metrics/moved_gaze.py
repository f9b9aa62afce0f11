"""Chapter 13's moved-gaze test, an earlier and weaker test of the gaze claim: each test finding
with a box is generated again from its location-free prompt, the radiomics controls of a
finding-free training image, and its gaze control moved onto the box of a finding of another
test image; each image is scored by the pointing game in the gazed box, in the original box and
in a shuffled item's gazed box (``counterfactual`` has the geometry, this module the test's
steps: ``move_gaze``, ``generate``, ``generate_eq5``, ``moved_cells``, ``verdict_values``).

Shapes: N kept test findings, R px; gaze controls ``(N, 3, R, R)`` in [0, 1]; boxes
``(x0, y0, x1, y1)`` on the R grid; a method's images ``(seeds, N, R, R)`` uint8; hits in {0, 1}.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from radgazegen.core.intervals import Evidence, paired_difference
from radgazegen.core.labels import FINDING_KEYWORDS
from radgazegen import generation
from radgazegen.generation import methods
from radgazegen.metrics import counterfactual, pointing_game

#: The moved-gaze table's columns and its chance row.
GAZED, ORIGINAL, SHUFFLED = "gazed box", "original box", "shuffled gaze"
CHANCE = "chance (box area)"


def kept_items(test_items: Sequence, ids: Sequence[str], findings: Sequence[str], keep: np.ndarray
               ) -> tuple[list, list[str], list[str]]:
    """The gaze test items of the findings with a box: ``test_items`` (``run_items(..., gaze=True)``,
    the first ``len(ids)`` must line up with chapter 07's manifest ``ids``), ``keep`` ``(N,)``
    bool; returns ``(items, ids, findings)`` of the kept ones. Raises when they do not line up.
    Used by chapter 13."""
    test_items = test_items[:len(ids)]
    if [it.dicom_id for it in test_items] != list(ids):
        raise RuntimeError("the test items do not line up with chapter 07's manifest")
    idx = np.flatnonzero(keep)
    return [test_items[i] for i in idx], [ids[i] for i in idx], [findings[i] for i in idx]


def move_gaze(controls: np.ndarray, own_boxes: Sequence, ids: Sequence[str], findings: Sequence[str],
              min_distance: float, targets: str = "any", seed: int = 0) -> tuple[list, np.ndarray, np.ndarray]:
    """Move each gaze control ``(N, 3, R, R)`` so that its centre of mass lands on the centre of
    another test finding's box (``counterfactual.choose_targets``: of another image, at least
    ``min_distance`` px from where the gaze was; ``targets`` "same-finding" restricts the boxes
    to the item's own finding, "any" does not). Returns ``(gazed_boxes, moved_controls,
    shifts)``: the N target boxes on the R grid, the ``(N, 3, R, R)`` moved controls and the
    ``(N, 2)`` shifts (dx, dy) in px. Used by chapter 13."""
    centres = [counterfactual.centre_of_mass(h[0]) for h in controls]
    if targets not in ("any", "same-finding"):
        raise ValueError(f"moved_gaze_targets: expected 'any' or 'same-finding', got {targets!r}")
    kinds = findings if targets == "same-finding" else None  # "same-finding": a plausible place for it
    target = counterfactual.choose_targets(centres, ids, own_boxes, ids, min_distance, seed=seed,
                                           item_kinds=kinds, donor_kinds=kinds)
    gazed_boxes = [own_boxes[j] for j in target]
    moved_controls, shifts = counterfactual.moved(controls, gazed_boxes)
    return gazed_boxes, moved_controls, shifts


def location_free_prompts(items: Sequence, findings: Sequence[str]) -> list[str]:
    """Each item's prompt without place words (sides, zones), only its sentences that name its
    finding (``counterfactual.location_free_prompt``; "<finding>." when none does). Used by
    chapter 13."""
    return [counterfactual.location_free_prompt(it.prompt, FINDING_KEYWORDS.get(f, ()), f"{f}.")
            for it, f in zip(items, findings)]


def generate(sampler, registry: dict, prompts: Sequence[str], conditioning: dict, seeds: int, seed: int,
             steps: int, guidance: float, resolution: int) -> dict[str, np.ndarray]:
    """SD, HVA-CN and RadGazeGen (those in ``registry``, ``generation.methods.build``) drawn by
    ``sampler`` (``generation.Sampler``) from ``prompts`` and ``conditioning`` (the moved gaze,
    the finding-free radiomics maps): method -> ``(seeds, N, resolution, resolution)`` uint8.
    Used by chapter 13."""
    out = {}
    for name in (m for m in (methods.SD, methods.HVA_CN, methods.RADGAZEGEN) if m in registry):
        out[name] = np.stack([sampler.sample(registry[name], prompts, conditioning, seeds=generation.replicate_seeds(seed, r, len(prompts)),
                                             steps=steps, guidance=guidance, resolution=resolution) for r in range(seeds)])
    return out


def generate_eq5(sampler, eq5, mask_controls: np.ndarray, gazed_boxes: Sequence, prompts: Sequence[str], seeds: int,
                 seed: int, steps: int, guidance: float, resolution: int) -> np.ndarray:
    """The primary test's HVA-CN (Eq. 5) ``eq5`` on its own control, the gaze masks
    ``(N, 3, R, R)``, moved onto ``gazed_boxes``: ``(seeds, N, resolution, resolution)`` uint8,
    with the seeds of ``generate``. Used by chapter 13."""
    import torch

    masks_moved = torch.from_numpy(counterfactual.moved(mask_controls, gazed_boxes)[0])
    pipe = sampler.pipeline([eq5])
    return np.stack([generation.generate(pipe, prompts, [masks_moved], scales=[1.0], seeds=generation.replicate_seeds(seed, r, len(prompts)),
                                         steps=steps, guidance=guidance, resolution=resolution) for r in range(seeds)])


def moved_cells(moved: dict, localiser, gazed_boxes: Sequence, own_masks: np.ndarray, ids: Sequence[str],
                seed: int = 0) -> dict[tuple[str, str], Evidence]:
    """The moved-gaze evidence: per method of ``moved`` (name -> ``(seeds, N, R, R)``) its
    pointing-game hits ``(seeds, N)`` in the gazed box, in the original box (``own_masks``
    ``(N, R, R)``) and in a shuffled item's gazed box (``counterfactual.shuffled_hits``, shuffled
    within images ``ids``, seed ``seed + r``); then the chance rows (each box's area fraction).
    Used by chapter 13."""
    size = own_masks.shape[-1]
    gazed_masks = np.stack([counterfactual.box_mask(b, size) for b in gazed_boxes])
    cells = {}
    for name, reps in moved.items():
        heat = [localiser.heatmaps(ims) for ims in reps]
        cells[(name, GAZED)] = Evidence("mean", "higher", values=np.stack([pointing_game(h, gazed_masks) for h in heat]))
        cells[(name, ORIGINAL)] = Evidence("mean", "higher", values=np.stack([pointing_game(h, own_masks) for h in heat]))
        cells[(name, SHUFFLED)] = Evidence("mean", "higher", values=np.stack([
            counterfactual.shuffled_hits(h, gazed_masks, ids, seed=seed + r) for r, h in enumerate(heat)]))
    cells[(CHANCE, GAZED)] = Evidence("mean", "higher", values=gazed_masks.mean((1, 2))[None])
    cells[(CHANCE, ORIGINAL)] = Evidence("mean", "higher", values=own_masks.mean((1, 2))[None])
    return cells


def comparison_pairs(moved: dict) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The moved-gaze comparisons: each method's gazed box against its shuffled baseline, against
    its original box, and each gaze-guided method against SD in the gazed box. Used by chapter 13."""
    pairs = [((n, GAZED), (n, SHUFFLED)) for n in moved]
    pairs += [((n, GAZED), (n, ORIGINAL)) for n in moved]
    pairs += [((n, GAZED), (methods.SD, GAZED)) for n in moved if n != methods.SD]
    return pairs


def verdict_values(cells: dict | None, moved: dict | None, n_boot: int = 1000, seed: int = 0) -> dict:
    """The values chapter 13 glues about the moved-gaze test (``mg_*``): the follower (HVA-CN
    (Eq. 5), else RadGazeGen, else the first gaze-guided method), its gazed-box hit rate, SD's
    and the shuffled baseline's, the paired difference follower minus SD with its 95% interval
    over the findings x seeds, RadGazeGen minus SD beside it, the verdict and how many findings x
    seeds would make the interval exclude 0 (its half-width shrinks as 1 / sqrt(count)).
    Defaults where the test was not run. Used by chapter 13."""
    nan = float("nan")
    mg = {"mg_follower": "(none)", "mg_rate": nan, "mg_sd": nan, "mg_shuffled": nan, "mg_diff": nan, "mg_low": nan,
          "mg_high": nan, "mg_pairs": 0, "mg_needed": "(not estimated)",
          "mg_verdict": "was not run in this profile (moved_gaze_seeds = 0)", "mg_rg": "(not run)"}
    if not (moved and methods.SD in moved and len(moved) > 1):
        return mg
    follower = next(n for n in (methods.HVA_CN_EQ5, methods.RADGAZEGEN, *moved) if n in moved and n != methods.SD)
    key = paired_difference(cells[(follower, GAZED)], cells[(methods.SD, GAZED)], n_boot=n_boot, seed=seed)
    pairs_n = int(cells[(follower, GAZED)].values.size)  # findings x seeds
    half = (key.high - key.low) / 2
    mg.update(mg_follower=follower, mg_rate=float(cells[(follower, GAZED)].values.mean()),
              mg_sd=float(cells[(methods.SD, GAZED)].values.mean()),
              mg_shuffled=float(cells[(follower, SHUFFLED)].values.mean()),
              mg_diff=key.difference, mg_low=key.low, mg_high=key.high, mg_pairs=pairs_n)
    if follower != methods.RADGAZEGEN and methods.RADGAZEGEN in moved:  # the paper's fused model, beside
        rg = paired_difference(cells[(methods.RADGAZEGEN, GAZED)], cells[(methods.SD, GAZED)], n_boot=n_boot, seed=seed)
        mg["mg_rg"] = f"{rg.difference:+.3f} [{rg.low:+.3f}, {rg.high:+.3f}]"
    if key.favours_a:
        mg["mg_verdict"] = "excludes 0: at this budget the finding follows the gaze"
        mg["mg_needed"] = "(already enough)"
    elif key.difference > 0:
        mg["mg_verdict"] = "reaches 0: at this budget the claim is not shown"
        # the count that would exclude 0 if the difference stayed as measured
        mg["mg_needed"] = f"about {int(np.ceil(pairs_n * (half / key.difference) ** 2)):,}"
    else:
        mg["mg_verdict"] = "is not positive: at this budget the gaze-guided images do not follow the gaze"
        mg["mg_needed"] = "(no positive difference to measure)"
    return mg
