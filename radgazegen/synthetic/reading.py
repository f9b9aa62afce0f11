"""A simulated radiologist's reading: a systematic search, then the dictation with gaze on each finding.

The reader first searches the chest (both lungs top to bottom, heart, mediastinum,
costophrenic angles) for 4-8 s, then dictates sentence by sentence. While a finding is
dictated, from ``WINDOW_LEAD_S`` (1.5 s) before its sentence starts until its last word,
the gaze dwells on the finding (85% of fixations); otherwise it wanders over the anatomy.
A few fixations land off the image.

Units: pixels of the original image (x right, y down), seconds from the start of the
dictation (the audio recording). The dictation's tokens follow REFLACX's
``timestamps_transcription.csv``: the case of the text kept, "." and "," separate tokens
(zero duration, at the end of the word they follow), so that
``text.replace('.', ' .').replace(',', ' ,') == ' '.join(tokens)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radgazegen.synthetic.phantom import Phantom
from radgazegen.synthetic.reports import Dictation

#: Seconds before the start of a finding's sentence that the gaze starts to dwell on it.
WINDOW_LEAD_S = 1.5


@dataclass
class Reading:
    """A simulated reading.

    fixations: (N, 4) float x, y (original pixels, rounded), start, end (s).
    tokens: [(token, start, end)]: words with their case, "." and "," as their own tokens.
    sentences: [(text, start, end)] in dictation order.
    """

    fixations: np.ndarray
    tokens: list[tuple[str, float, float]]
    sentences: list[tuple[str, float, float]]

    @property
    def transcription(self) -> str:
        """The dictated text: the sentences joined by single spaces."""
        return " ".join(s for s, _, _ in self.sentences)


def tokenize(text: str) -> list[str]:
    """REFLACX's tokens of a dictated text: split on spaces after separating "." and ","."""
    return text.replace(".", " .").replace(",", " ,").split()


def _anatomy_points(ph: Phantom, rng: np.random.Generator, names: tuple[str, ...], n: int) -> np.ndarray:
    pts = []
    for _ in range(n):
        ys, xs = np.nonzero(ph.anatomy[str(rng.choice(names))][::4, ::4])
        k = int(rng.integers(len(xs)))
        pts.append((xs[k] * 4.0, ys[k] * 4.0))
    return np.array(pts)


def simulate_reading(ph: Phantom, dictation: Dictation, findings: list, rng: np.random.Generator,
                     off_image_fraction: float) -> Reading:
    """One reading of ``ph`` in which ``dictation`` (about ``findings``, a subset of
    ``ph.findings`` in the dictation's indexing) is spoken; ``off_image_fraction`` of the
    fixations land 5-60 px (at 512 px; scaled with the width) beside the image."""
    h, w = ph.image.shape
    scale = w / 512.0
    tokens, sentences = [], []
    # --- dictation timeline (after a systematic search of 4-8 s)
    search_end = float(rng.uniform(4.0, 8.0))
    t = search_end
    spoken = list(dictation.sentences)
    if len(findings) == 1:
        spoken.append((dictation.impression, 0))
    windows = []  # (start, end, finding index)
    for text, idx in spoken:
        start = t
        for tok in tokenize(text):
            if tok in (".", ","):
                tokens.append((tok, t, t))
                continue
            d = float(rng.uniform(0.25, 0.45)) * (0.6 + 0.08 * len(tok))
            tokens.append((tok, t, t + d))
            t += d + float(rng.uniform(0.02, 0.08))
        sentences.append((text, start, t))
        if idx >= 0:
            windows.append((start - WINDOW_LEAD_S, t, idx))
        t += float(rng.uniform(0.3, 0.8))
    total = t
    # --- search path: both lungs top to bottom, heart, mediastinum, diaphragm / angles
    path = []
    for lung in ("right_lung", "left_lung"):
        x0, y0, x1, y1 = ph.box(lung)
        for fy in np.linspace(0.15, 0.9, 4):
            path.append((x0 + (x1 - x0) * rng.uniform(0.3, 0.7), y0 + (y1 - y0) * fy))
    for name in ("heart", "mediastinum"):
        x0, y0, x1, y1 = ph.box(name)
        path.append(((x0 + x1) / 2, (y0 + y1) / 2))
    for lung in ("right_lung", "left_lung"):
        x0, y0, x1, y1 = ph.box(lung)
        path.append((x0 + 0.15 * (x1 - x0) if lung == "right_lung" else x1 - 0.15 * (x1 - x0), y1 - 0.05 * (y1 - y0)))
    path = np.array(path)
    # --- fixations
    fix = []
    t, k = 0.0, 0
    step = max(2, int(2 * scale))
    masks = [np.argwhere(f.mask[::step, ::step]) * step for f in findings]
    while t < total:
        d = float(rng.uniform(0.15, 0.55))
        active = [i for (a, b, i) in windows if a <= t < b]
        if t < search_end and not active:
            x, y = path[k % len(path)] + rng.normal(0, 0.02 * w, 2)
            k += 1
        elif active and rng.random() < 0.85:
            pts = masks[active[-1]]
            yx = pts[int(rng.integers(len(pts)))] if len(pts) else (h / 2, w / 2)
            x, y = yx[1] + rng.normal(0, 0.01 * w), yx[0] + rng.normal(0, 0.01 * h)
            d = float(rng.uniform(0.25, 0.7))
        else:
            x, y = _anatomy_points(ph, rng, ("right_lung", "left_lung", "heart", "mediastinum"), 1)[0]
        if rng.random() < off_image_fraction:
            x = float(rng.choice([-rng.uniform(5, 60) * scale, w + rng.uniform(5, 60) * scale]))
        fix.append((round(float(x)), round(float(y)), t, t + d))
        t += d + float(rng.uniform(0.02, 0.06))
    fixations = np.array(fix, dtype=float).reshape(-1, 4)
    fixations[:, 1] = np.clip(fixations[:, 1], 0, h - 1)
    return Reading(fixations, tokens, sentences)


def gaze_samples(fixations: np.ndarray, rng: np.random.Generator, hz: float = 30.0, jitter_px: float = 2.0) -> np.ndarray:
    """Raw gaze samples (M, 3): time (s), x, y (pixels) at ``hz`` with ``jitter_px`` noise around each fixation."""
    rows = []
    for x, y, a, b in fixations:
        ts = np.arange(a, b, 1.0 / hz)
        rows.append(np.column_stack([ts, x + rng.normal(0, jitter_px, len(ts)), y + rng.normal(0, jitter_px, len(ts))]))
    return np.concatenate(rows) if rows else np.zeros((0, 3))

