"""The course's exercises: each chapter's exercise cell writes one step of the method by hand,
and its check cell compares that function with the package's on fixed inputs.

``check(name, fn)`` runs ``fn`` on the exercise's cases and the package's function on the same
ones; it returns a one-line summary when they agree and raises ``ExerciseFailed`` (an
``AssertionError``, so nbgrader's autograder counts it as failed) whose message says in words
what differs: a stub not written yet, a wrong shape or type, a known mistake (the authors'
released selection, a missing scale, overlap instead of the maximum), else where the values
differ. The exercises (their solutions are marked ``### BEGIN SOLUTION`` / ``### END
SOLUTION`` in the chapters; ``python -m radgazegen course`` writes the student edition):

- ``hva_map`` (chapter 02): V^m from fixations, Eq. (eq-02-hva) -> ``gaze.hva_map``;
- ``hypothesis`` (chapter 03): the selected hypothesis, argmax of D(f_B, f_H) ->
  ``hypotheses.cosine_scores``;
- ``fusion`` (chapter 07): Eq. 6's ⊕ of scaled ControlNet residuals ->
  ``objective.eq6_residuals`` (diffusers' MultiControlNetModel);
- ``pointing_game`` (chapter 13): hit if the heatmap's maximum lies in the box ->
  ``metrics.pointing_game``.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import pandas as pd
import torch


class ExerciseFailed(AssertionError):
    """The student's function differs from the package's; the message says how, in words."""


def _call(name: str, fn: Callable, *args):
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseFailed(f"{fn.__name__} is not written yet (it raises NotImplementedError): "
                             f"replace the stub in the exercise cell, run it, then run this check again") from None
    except Exception as exc:  # the student's error, named with the inputs that caused it
        raise ExerciseFailed(f"{fn.__name__} raised {type(exc).__name__}: {exc} (on the {name} case)") from None


# ------------------------------------------------------------------------ V^m (chapter 02)
def _hva_cases():
    rng = np.random.default_rng(2)
    many = rng.uniform([0, 0], [200, 100], (12, 2))
    return {
        "three fixations, 200x100 px image on a 50x25 grid": (np.array([20.0, 120.0, 121.0]), np.array([30.0, 60.0, 61.0]), (200, 100), 8.0, (50, 25)),
        "twelve fixations, square grid": (many[:, 0], many[:, 1], (200, 100), 12.0, (64, 64)),
        "one fixation outside the image": (np.array([50.0, 250.0]), np.array([40.0, 40.0]), (200, 100), 8.0, (50, 25)),
        "no fixation": (np.array([]), np.array([]), (200, 100), 8.0, (50, 25)),
    }


def _hva_reference(xs, ys, image_size, sigma_px, out_size) -> np.ndarray:
    from radgazegen.controls.gaze import hva_map

    fixations = pd.DataFrame({"x": xs, "y": ys, "start": 0.0, "end": 0.2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hva_map(fixations, image_size, sigma_px=sigma_px, out_size=out_size)


def _check_hva(fn) -> list[str]:
    problems = []
    for case, args in _hva_cases().items():
        want = _hva_reference(*args)
        got = np.asarray(_call(case, fn, *args), dtype=np.float64)
        if got.shape != want.shape:
            hint = " (rows are the height: did you swap width and height?)" if got.shape == want.shape[::-1] else ""
            problems.append(f"{case}: shape {got.shape}, expected (height, width) = {want.shape}{hint}")
        elif not np.isfinite(got).all():
            problems.append(f"{case}: the map has NaN or inf values (dividing by a maximum of 0?); "
                            "with no fixation on the image V^m is all zeros")
        elif want.max() > 0 and abs(got.max() - 1) > 1e-4:
            problems.append(f"{case}: the map's maximum is {got.max():.4g}; V^m is divided by its maximum, so it is 1")
        elif not np.allclose(got, want, atol=1e-4):
            r, c = np.unravel_index(np.abs(got - want).argmax(), want.shape)
            hint = (" A fixation outside the image is dropped, not moved to the border." if "outside" in case else
                    " Is the Gaussian's sigma scaled to the grid (sigma_px x out_width / width), and is each"
                    " fixation counted once at (x x out_width / width, y x out_height / height), rounded down?")
            problems.append(f"{case}: values differ by up to {abs(got - want).max():.3g} (at row {r}, column {c}).{hint}")
    return problems


# ------------------------------------------------------------ D(f_B, f_H) (chapter 03)
def _hypothesis_cases():
    rng = np.random.default_rng(3)
    cases = {}
    for k in range(3):
        f_bag = rng.normal(size=(6, 16))
        f_hyp = f_bag * rng.uniform(0.2, 3.0, (6, 1)) + rng.normal(scale=0.3 + 0.4 * k, size=(6, 16))  # scale differs per row
        cases[f"bag of 6, 16 features, seed {k}"] = (f_bag, f_hyp)
    return cases


def _check_hypothesis(fn) -> list[str]:
    from radgazegen.controls.hypotheses import cosine_scores

    problems = []
    for case, (f_bag, f_hyp) in _hypothesis_cases().items():
        scores = cosine_scores(f_bag, f_hyp)
        want = int(np.argmax(scores))
        got = _call(case, fn, f_bag, f_hyp)
        if not isinstance(got, (int, np.integer)):
            problems.append(f"{case}: returned {type(got).__name__}, expected the index (an int) of the selected hypothesis")
            continue
        if int(got) == want:
            continue
        mse = ((f_bag - f_hyp) ** 2).mean(axis=1)
        if int(got) == int(np.argmin(scores)) or int(got) == int(np.argmax(mse)):
            problems.append(f"{case}: you selected hypothesis {int(got)}, the least similar one; the authors' released "
                            f"script keeps the largest MSE like this, but the paper selects the best match, the largest "
                            f"D(f_B, f_H) (hypothesis {want})")
        elif int(got) == int(np.argmin(mse)):
            problems.append(f"{case}: you selected hypothesis {int(got)}, the smallest Euclidean distance; D is the cosine "
                            f"similarity, which ignores each feature vector's length (hypothesis {want})")
        else:
            problems.append(f"{case}: selected {int(got)}, expected {want}: the largest cosine similarity of each bag "
                            f"image's features with its own hypothesis's (row i with row i)")
    return problems


# ---------------------------------------------------------------------- Eq. 6 (chapter 07)
def _fusion_cases():
    g = torch.Generator().manual_seed(7)
    net = lambda: ([torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 8, 4, 4, generator=g)], torch.randn(2, 8, 2, 2, generator=g))
    return {"scales 1 and 1": (net(), net(), 1.0, 1.0), "scales 0.7 and 1.5": (net(), net(), 0.7, 1.5),
            "HVA-CN switched off (scale 0)": (net(), net(), 1.0, 0.0)}


class _FixedResiduals(torch.nn.Module):
    """A stand-in ControlNet whose forward returns given residuals times its conditioning scale,
    as a ControlNet's does: lets the check run Eq. 6 itself on random residuals."""

    def __init__(self, down: list, mid: torch.Tensor):
        super().__init__()
        self.down, self.mid = down, mid

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale=1.0, **_):
        return [d * conditioning_scale for d in self.down], self.mid * conditioning_scale


def _eq6(rad: tuple, hva: tuple, s_r: float, s_v: float) -> tuple:
    """The study's Eq. 6 (``models.objective.eq6_residuals``: diffusers' MultiControlNetModel) on fixed residuals."""
    from radgazegen.models.objective import eq6_residuals

    z = torch.zeros(1)
    return eq6_residuals([_FixedResiduals(*rad), _FixedResiduals(*hva)], z, z, z, [z, z], [s_r, s_v])


def _check_fusion(fn) -> list[str]:
    problems = []
    for case, (rad, hva, s_r, s_v) in _fusion_cases().items():
        want_down, want_mid = _eq6(rad, hva, s_r, s_v)
        out = _call(case, fn, rad, hva, s_r, s_v)
        if not (isinstance(out, tuple) and len(out) == 2):
            problems.append(f"{case}: expected a pair (down-block residuals, mid-block residual), got {type(out).__name__}")
            continue
        down, mid = out
        if len(down) != len(want_down):
            problems.append(f"{case}: {len(down)} down-block residuals, expected {len(want_down)}: ⊕ sums the two "
                            "ControlNets' residuals block by block, it does not concatenate the lists")
            continue
        if any(tuple(a.shape) != tuple(b.shape) for a, b in zip(down, want_down)) or tuple(mid.shape) != tuple(want_mid.shape):
            problems.append(f"{case}: a residual's shape changed; each block's sum has that block's shape")
            continue
        if all(torch.allclose(a, b, atol=1e-5) for a, b in zip(down, want_down)) and torch.allclose(mid, want_mid, atol=1e-5):
            continue
        unscaled = _eq6(rad, hva, 1.0, 1.0)
        if s_r != 1 or s_v != 1:
            if all(torch.allclose(a, b, atol=1e-5) for a, b in zip(down, unscaled[0])):
                problems.append(f"{case}: each ControlNet's residuals are multiplied by its conditioning scale before "
                                "they are summed (a scale of 0 switches that control off: Eq. 6's indicator)")
                continue
        problems.append(f"{case}: the sums differ from s_R F_R + s_V F_V per block (largest difference "
                        f"{max(float((a - b).abs().max()) for a, b in zip(down, want_down)):.3g})")
    return problems


# ------------------------------------------------------------ pointing game (chapter 13)
def _pointing_cases():
    rng = np.random.default_rng(13)
    heat = rng.random((8, 16, 16)).astype(np.float32)
    masks = np.zeros((8, 16, 16), bool)
    for i in range(8):
        r, c = np.unravel_index(heat[i].argmax(), (16, 16))
        if i % 2 == 0:  # even: a box around the maximum (a hit), odd: a large box elsewhere (overlap but no hit)
            masks[i, max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = True
        else:
            masks[i] = True
            masks[i, max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = False
    return {"8 heatmaps 16x16, 4 hits": (heat, masks)}


def _check_pointing(fn) -> list[str]:
    from radgazegen.metrics import pointing_game

    problems = []
    for case, (heat, masks) in _pointing_cases().items():
        want = pointing_game(heat, masks)
        got = np.asarray(_call(case, fn, heat, masks), dtype=np.float64)
        if got.shape != want.shape:
            problems.append(f"{case}: shape {got.shape}, expected one hit (0 or 1) per image {want.shape}")
        elif not np.isin(got, (0, 1)).all():
            problems.append(f"{case}: values {np.unique(got)[:5]}; a hit is 1 or 0: the heatmap's single maximum "
                            "is inside the box or not (the pointing game does not count overlap)")
        elif not np.array_equal(got, want):
            wrong = np.flatnonzero(got != want).tolist()
            problems.append(f"{case}: images {wrong} scored {got[wrong].astype(int).tolist()}, expected "
                            f"{want[wrong].astype(int).tolist()}: find the maximum of each whole heatmap "
                            "(argmax of the flattened map), then look that pixel up in the mask")
    return problems


#: name -> (the package function it is checked against, the checker)
EXERCISES: dict[str, tuple[str, Callable[[Callable], list[str]]]] = {
    "hva_map": ("radgazegen.controls.gaze.hva_map", _check_hva),
    "hypothesis": ("radgazegen.controls.hypotheses.cosine_scores + argmax", _check_hypothesis),
    "fusion": ("radgazegen.models.objective.eq6_residuals", _check_fusion),
    "pointing_game": ("radgazegen.metrics.pointing_game", _check_pointing),
}


def check(name: str, fn: Callable) -> str:
    """Compare ``fn`` with the package on exercise ``name``'s cases; returns (and prints) a
    one-line summary, or raises ``ExerciseFailed`` listing what differs, in words."""
    if name not in EXERCISES:
        raise KeyError(f"exercise {name!r}: expected one of {sorted(EXERCISES)}")
    reference, checker = EXERCISES[name]
    problems = checker(fn)
    if problems:
        raise ExerciseFailed(f"{fn.__name__} differs from {reference}:\n- " + "\n- ".join(problems))
    n = {"hva_map": _hva_cases, "hypothesis": _hypothesis_cases, "fusion": _fusion_cases, "pointing_game": _pointing_cases}[name]()
    line = f"check passed: {fn.__name__} agrees with {reference} on {len(n)} case(s): {'; '.join(n)}"
    print(line)
    return line
