"""Moved-gaze counterfactuals: does the generated finding follow the gaze control (issue 14)?

In the cohort the report names the place ("a mass in the left upper zone") and the test
image's own radiomics maps show the lesion, so SD and Rad-CN can place a finding without any
gaze. To attribute location to the gaze alone, an item is generated from:

- a prompt without location words (``location_free_prompt``: the report's sentences naming
  the finding, with sides, zones and other place words removed);
- radiomics controls of a finding-free image (chosen by the caller, never from the scored
  image's labels), or none;
- its gaze control *moved* (``translate``) so that the gaze's centre of mass lands on the
  centre of another test finding's box (``choose_targets``: a finding of another image, at least
  ``min_distance`` from where the gaze was; chosen from the gaze control, not from the item's
  own box).

A generated image is scored by the pointing game in the *gazed* box (where the moved gaze
points) and in the *original* box (where the finding was in the real image), against the
**shuffled-gaze baseline** (``shuffled_hits``): the same image scored in the gazed box of
another item. A method that ignores the gaze hits the gazed box only as often as a random
other item's box; a method that follows it hits its own gazed box more often.

Coordinates: boxes ``(x0, y0, x1, y1)`` and centres ``(x, y)`` on the control grid (pixels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from radgazegen.metrics import pointing_game

# the location-free prompt lives with the labels (training items use it too); re-exported here
from radgazegen.core.labels import LOCATION_WORDS, location_free_prompt, strip_location  # noqa: E402,F401


def centre_of_mass(control: np.ndarray) -> tuple[float, float]:
    """``(x, y)`` centre of mass of a ``(H, W)`` non-negative map (the image centre when all zero)."""
    c = np.asarray(control, np.float64)
    total = c.sum()
    if total <= 0:
        return (c.shape[1] - 1) / 2, (c.shape[0] - 1) / 2
    ys, xs = np.indices(c.shape)
    return float((xs * c).sum() / total), float((ys * c).sum() / total)


def box_centre(box: Sequence[float]) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2


def translate(control: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``control`` (``(..., H, W)``) shifted by ``(dx, dy)`` pixels, rounded to whole pixels; what
    leaves the grid is lost, what enters is 0 (no wrap-around)."""
    dx, dy = int(round(dx)), int(round(dy))
    out = np.zeros_like(control)
    h, w = control.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = control[..., src_y, src_x]
    return out


def choose_targets(gaze_centres: Sequence[tuple[float, float]], item_images: Sequence[str],
                   donor_boxes: Sequence[Sequence[float]], donor_images: Sequence[str], min_distance: float,
                   seed: int = 0, item_kinds: Sequence[str] | None = None,
                   donor_kinds: Sequence[str] | None = None) -> np.ndarray:
    """For each item, the index of a donor box to move its gaze to: a box of another image
    (``donor_images[j] != item_images[i]``) whose centre is at least ``min_distance`` from the
    item's gaze centre, drawn at random (``seed``) among those; when none is that far, the
    farthest box of another image. With ``item_kinds`` and ``donor_kinds`` (the finding each
    prompt names, and each donor box's finding) the donors are first restricted to boxes of
    the same finding, so that a mass is moved to where another image had a mass (a plausible
    place); items whose finding no other image has fall back to every other image's boxes.
    Uses only the gaze control, the prompt's finding and other images' boxes."""
    if not len(donor_boxes):
        raise ValueError("choose_targets: no donor boxes")
    rng = np.random.default_rng(seed)
    centres = np.array([box_centre(b) for b in donor_boxes], np.float64)
    donors = np.asarray(donor_images, dtype=object)
    out = np.empty(len(gaze_centres), np.int64)
    for i, (c, image) in enumerate(zip(gaze_centres, item_images)):
        other = donors != image
        if not other.any():
            raise ValueError(f"choose_targets: every donor box is on image {image!r}")
        if item_kinds is not None and donor_kinds is not None:
            same = other & (np.asarray(donor_kinds, dtype=object) == item_kinds[i])
            other = same if same.any() else other
        dist = np.hypot(centres[:, 0] - c[0], centres[:, 1] - c[1])
        eligible = np.flatnonzero(other & (dist >= min_distance))
        out[i] = rng.choice(eligible) if len(eligible) else np.flatnonzero(other)[np.argmax(dist[other])]
    return out


def moved(controls: np.ndarray, targets: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Each ``(N, ..., H, W)`` control moved so that its centre of mass (of its first channel) lands
    on the centre of ``targets[i]``; returns the moved controls and the shifts ``(N, 2)`` (dx, dy)."""
    controls = np.asarray(controls)
    out, shifts = np.empty_like(controls), np.zeros((len(controls), 2))
    for i, (c, box) in enumerate(zip(controls, targets)):
        first = c.reshape(-1, *c.shape[-2:])[0]
        (cx, cy), (tx, ty) = centre_of_mass(first), box_centre(box)
        shifts[i] = tx - cx, ty - cy
        out[i] = translate(c, *shifts[i])
    return out, shifts


def shuffled_hits(heatmaps: np.ndarray, masks: np.ndarray, groups: Sequence[str] | None = None,
                  n_permutations: int = 20, seed: int = 0) -> np.ndarray:
    """The shuffled-gaze baseline per item: the pointing-game hit of item i's heatmap in the mask of
    another item (``masks[π(i)]``, π a random permutation with π(i) from another ``groups`` entry,
    e.g. another image, where possible), averaged over ``n_permutations``: ``(N,)`` float."""
    n = len(heatmaps)
    if n < 2:
        return np.full(n, np.nan, np.float32)
    groups = np.arange(n) if groups is None else np.asarray(groups, dtype=object)
    rng = np.random.default_rng(seed)
    total = np.zeros(n, np.float64)
    for _ in range(n_permutations):
        perm = rng.permutation(n)
        for i in np.flatnonzero(groups[perm] == groups):  # re-draw the partners of the same group
            others = np.flatnonzero(groups != groups[i])
            perm[i] = rng.choice(others) if len(others) else (i + 1) % n
        total += pointing_game(heatmaps, masks[perm])
    return (total / n_permutations).astype(np.float32)


def box_mask(box: Sequence[float], size: int) -> np.ndarray:
    """``(size, size)`` float32 mask of a box given on the ``size`` grid."""
    m = np.zeros((size, size), np.float32)
    x0, y0, x1, y1 = box
    m[max(0, int(y0)):max(0, int(np.ceil(y1))), max(0, int(x0)):max(0, int(np.ceil(x1)))] = 1
    return m


def interval(evidence, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """A cell's value and its 95% percentile-bootstrap interval over findings and seeds
    (``intervals.paired_difference`` against a cell of zeros)."""
    from radgazegen.core.intervals import Evidence, paired_difference

    d = paired_difference(evidence, Evidence("mean", evidence.better, values=np.zeros_like(evidence.values)),
                          n_boot=n_boot, seed=seed)
    return d.difference, d.low, d.high


def hit_table(cells: dict, n_boot: int = 1000, seed: int = 0):
    """``{(row, column): Evidence}`` -> a DataFrame of ``value [low, high]`` strings, one row per
    method, and the float values (for the saved result)."""
    import pandas as pd

    text, value = {}, {}
    for (row, col), e in cells.items():
        v, lo, hi = interval(e, n_boot, seed)
        text.setdefault(col, {})[row] = f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
        value.setdefault(col, {})[row] = v
    return pd.DataFrame(text), pd.DataFrame(value)


def comparisons(cells: dict, pairs: Sequence[tuple[tuple[str, str], tuple[str, str]]], n_boot: int = 1000, seed: int = 0):
    """Paired differences ``a - b`` over findings and seeds for each ``(a, b)`` pair of cell keys
    present in ``cells``: a DataFrame (difference [95% interval], and whether it excludes 0)."""
    import pandas as pd

    from radgazegen.core.intervals import paired_difference

    rows = []
    for a, b in pairs:
        if a in cells and b in cells:
            d = paired_difference(cells[a], cells[b], n_boot=n_boot, seed=seed)
            rows.append({"a": " / ".join(a), "b": " / ".join(b), "a - b [95% interval]": d.text(3),
                         "interval excludes 0": "a higher" if d.favours_a else "b higher" if d.favours_b else "no"})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the mirrored gaze (issue 25)
# Chapter 13's primary test. A focal finding sits in one lung; its gaze control is mirrored left
# <-> right (same zone, the other lung: a place the finding is as likely to be under the cohort's
# prior). Each gaze-guided method generates, with the same seed, once from the original and once
# from the mirrored gaze; the endpoint is whether the finding appears in the gazed lung (the
# localiser's strongest logit inside the lungs lies on the gazed side). A method blind to the gaze
# (SD) gives one image per seed, scored against both gazed sides: exactly one of the two is a hit,
# so its rate is exactly 0.5 whatever its prior.


def mirror(controls: np.ndarray) -> np.ndarray:
    """``(..., H, W)`` maps mirrored left <-> right (about the image's vertical centre line)."""
    return np.ascontiguousarray(np.asarray(controls)[..., ::-1])


def mirror_box(box: Sequence[float], width: float) -> tuple[float, float, float, float]:
    """A box ``(x0, y0, x1, y1)`` (x1 exclusive) mirrored about the vertical centre line of a
    ``width``-pixel grid."""
    x0, y0, x1, y1 = box
    return (width - x1, y0, width - x0, y1)


def gaze_side(control: np.ndarray) -> int:
    """Which half of the image a gaze control ``(H, W)`` points at: 0 for the image's left half
    (the patient's right lung), 1 for its right half, from its centre of mass."""
    x, _ = centre_of_mass(control)
    return int(x >= (control.shape[-1] - 1) / 2)


def lung_peak_side(logits: np.ndarray, lungs: np.ndarray) -> np.ndarray:
    """``(N,)`` int: the image half (0 left, 1 right) of the strongest localiser logit inside the
    lungs. logits: ``(N, S, S)`` (logits, not probabilities: a saturated sigmoid ties many pixels
    at 1.0 and its argmax falls to the first in raster order); lungs: ``(N, S, S)`` bool (where
    empty, the whole image)."""
    n, _, w = logits.shape
    inside = lungs.reshape(n, -1).copy()
    inside[~inside.any(1)] = True
    scores = np.where(inside, logits.reshape(n, -1), -np.inf)
    x = scores.argmax(1) % w
    return (x >= (w - 1) / 2).astype(np.int64)


def side_hits(peak_sides: np.ndarray, gazed_sides: Sequence[int]) -> np.ndarray:
    """``(N,)`` float32: 1 where the generated finding is in the gazed lung (peak side = gazed side)."""
    return (np.asarray(peak_sides) == np.asarray(gazed_sides)).astype(np.float32)


def swap_boxes(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The true counterfactual of a real image ``(H, W)``: the content of ``box`` and of its mirror
    image box swapped, each mirrored, so the finding is drawn at the mirrored place and the
    original place shows what the other lung had there (the cohort's phantoms are near-symmetric
    in the lungs). Boxes that overlap their mirror (a finding on the midline) are left as they are."""
    out = np.array(image, copy=True)
    h, w = out.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1, y0, y1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    m0, m1 = w - x1, w - x0
    if x1 <= x0 or y1 <= y0 or not (x1 <= m0 or m1 <= x0):
        return out
    a, b = image[y0:y1, x0:x1], image[y0:y1, m0:m1]
    out[y0:y1, m0:m1], out[y0:y1, x0:x1] = a[:, ::-1], b[:, ::-1]
    return out


def difference_share(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The localiser-free endpoint: ``(N,)`` share of the pixel difference ``|a - b|`` (``(N, S, S)``
    images of the same seed, e.g. original vs mirrored gaze) that lies inside ``region``
    (``(N, S, S)`` bool: the original and the gazed box), divided by the region's area share, so 1
    is no concentration and a gaze that moves the finding gives more; NaN where a == b."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(len(a), -1)
    r = np.asarray(region, bool).reshape(len(a), -1)
    total = d.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((d * r).sum(1) / total / r.mean(1)).astype(np.float32)


def variance_components(d: np.ndarray) -> tuple[float, float]:
    """Between-finding and within-finding (across seeds) variance of paired differences ``d``
    ``(R seeds, N findings)``: one-way random-effects ANOVA estimates, the between part floored at 0."""
    d = np.asarray(d, np.float64)
    r, n = d.shape
    within = float(d.var(axis=0, ddof=1).mean()) if r > 1 else float(d.var(ddof=1))
    between = max(0.0, float(d.mean(axis=0).var(ddof=1)) - (within / r if r > 1 else 0.0))
    return between, within


def findings_needed(between: float, within: float, effect: float, seeds: int, power: float = 0.8,
                    level: float = 0.95) -> int:
    """Findings N (each with ``seeds`` seeds) for a two-sided test at ``level`` to detect a mean
    paired difference ``effect`` with ``power``: N = (z_(1-a/2) + z_power)^2 (between + within /
    seeds) / effect^2."""
    from scipy.stats import norm

    if effect <= 0:
        return -1
    z = norm.ppf(1 - (1 - level) / 2) + norm.ppf(power)
    return int(np.ceil(z ** 2 * (between + within / seeds) / effect ** 2))


@dataclass(frozen=True)
class Verdict:
    """The primary test's verdict by the rule chapter 13 states before its numbers."""
    verdict: str          # "supported", "refuted at this scale" or "undecided"
    reason: str
    needed: int           # findings (x seeds) for 80% power at the observed or the smallest interesting effect; -1 none


def decide(key, ceiling_low: float, oracle_key, between: float, within: float, seeds: int,
           smallest_effect: float = 0.05) -> Verdict:
    """The rule: ``key`` (``intervals.Difference`` of gaze-guided minus SD on the primary endpoint)
    *supported* if its 95% interval excludes 0 upwards; *refuted at this scale* if its upper bound is
    below ``smallest_effect`` while the ceiling passes (the localiser tells the sides apart on the
    true counterfactual: ``ceiling_low`` > 0.5) and the oracle passes (``oracle_key``, oracle minus
    SD, excludes 0 upwards); else *undecided*, with the findings a decision needs at 80% power from
    the variance components (at the observed difference when it is at least ``smallest_effect``,
    else at ``smallest_effect``)."""
    ceiling_ok = ceiling_low > 0.5
    oracle_ok = oracle_key is not None and oracle_key.low > 0
    if key.low > 0:
        return Verdict("supported", "the interval excludes 0 in the claim's favour", -1)
    effect = key.difference if key.difference >= smallest_effect else smallest_effect
    need = findings_needed(between, within, effect, seeds)
    if key.high < smallest_effect and ceiling_ok and oracle_ok:
        return Verdict("refuted at this scale", f"the upper bound is below +{smallest_effect:g} while the ceiling "
                       "and the oracle pass", need)
    why = [] if ceiling_ok else ["the ceiling fails"]
    why += [] if oracle_ok else ["the oracle fails"]
    why += [] if key.high < smallest_effect else [f"the interval reaches +{smallest_effect:g} and 0"]
    return Verdict("undecided", "; ".join(why), need)


def fixed_point_prior(masks: np.ndarray, labels: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The floor of the pointing game that knows the finding but not the image: per label, the
    grid point ``(y, x)`` inside the most training boxes of that label. masks: ``(N, S, S)`` box
    masks of N training findings; labels: their ``N`` labels."""
    labels = np.asarray(labels, dtype=object)
    out = {}
    for lab in dict.fromkeys(labels.tolist()):
        counts = np.asarray(masks)[labels == lab].sum(0)
        out[lab] = tuple(int(v) for v in np.unravel_index(int(counts.argmax()), counts.shape))
    return out


def prior_hits(prior: dict[str, tuple[int, int]], masks: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """``(N,)`` float32: 1 where the label's fixed point (``fixed_point_prior``) lies in the test
    finding's box mask ``(N, S, S)``; 0 for a label the training set never had."""
    return np.array([float(masks[i][prior[lab]]) if lab in prior else 0.0 for i, lab in enumerate(labels)], np.float32)
