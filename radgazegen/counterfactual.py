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

import re
from typing import Sequence

import numpy as np

from radgazegen.metrics import pointing_game

#: Words that name a place in the cohort's reports (sides, zones, anatomical landmarks).
LOCATION_WORDS = (
    "superior vena cava", "chest wall", "aortic knob", "heart border",  # phrases first
    "left", "right", "bilateral", "bilaterally", "upper", "middle", "lower", "zone", "zones", "lobe", "lobes",
    "apical", "apex", "apices", "basal", "base", "bases", "basilar", "perihilar", "hilar", "retrocardiac",
    "lateral", "medial", "costophrenic", "angle", "hemidiaphragm", "hemithorax", "lingula", "lingular",
)
_PLACE = re.compile(r"\b(" + "|".join(LOCATION_WORDS) + r")\b", re.IGNORECASE)
#: A preposition and article left dangling once the place words are gone ("seen in the.").
_DANGLING = re.compile(r"\s*\b(in|at|along|over|of|beneath|under|on|to|with)\s+(the|a)?\s*(?=[.,;]|$)", re.IGNORECASE)


def strip_location(text: str) -> str:
    """``text`` with the place words removed and the prepositions they leave dangling."""
    out = _PLACE.sub("", text)
    for _ in range(3):
        out = _DANGLING.sub("", out)
    out = re.sub(r"\s+([.,;])", r"\1", " ".join(out.split()))
    out = re.sub(r"\b(the|a|an)\s+(?=[.,;])", "", out)
    return re.sub(r"\s+([.,;])", r"\1", out).strip()


def location_free_prompt(report: str, keywords: Sequence[str], fallback: str) -> str:
    """The report's sentences that name the finding (one of ``keywords``, case-insensitive), place
    words removed (``strip_location``); ``fallback`` (e.g. the finding's name) when none names it."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", report) if s.strip()]
    keys = [k.lower() for k in keywords]
    kept = [strip_location(s) for s in sentences if any(k in s.lower() for k in keys)]
    kept = [s for s in kept if s.strip(" .")]
    return " ".join(dict.fromkeys(kept)) if kept else fallback


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
    from radgazegen.intervals import Evidence, paired_difference

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

    from radgazegen.intervals import paired_difference

    rows = []
    for a, b in pairs:
        if a in cells and b in cells:
            d = paired_difference(cells[a], cells[b], n_boot=n_boot, seed=seed)
            rows.append({"a": " / ".join(a), "b": " / ".join(b), "a - b [95% interval]": d.text(3),
                         "interval excludes 0": "a higher" if d.favours_a else "b higher" if d.favours_b else "no"})
    return pd.DataFrame(rows)
