"""Human visual attention (HVA) maps from radiologists' fixations (§3.1, §3.2.2, Fig. 4).

- ``hva_map``: fixations accumulated on the image grid (counts, or weighted by duration)
  and blurred with a Gaussian whose sigma is given in pixels of the original image
  (authors: 64 px) or in degrees of visual angle (REFLACX's angular resolution, px/deg);
  normalised to [0, 1].
- ``finding_window`` / ``finding_fixations``: the per-finding map V^m keeps only the
  fixations made while the finding was being reported: from 1.5 s before the start of
  the sentence that names it to the end of the last mention of its word (the REFLACX
  authors' rule, ``../shared/notes/method.md``).
- ``threshold``: V^m >= lambda -> binary mask (0 / 255), optionally dilated (§3.2.2).

Coordinates are pixels of the original image; times are seconds from the start of the
dictation. Fixations off the image or with NaN fields are dropped and counted.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import cv2
import numpy as np
import pandas as pd

class EmptyHVAWarning(UserWarning):
    """An HVA map came out empty: no fixation left for the reading or the finding window."""


#: Seconds before the start of the sentence naming a finding that its window opens.
WINDOW_LEAD_S = 1.5

#: Width of the real radiographs the authors' pixel constants are given for (MIMIC-CXR-JPG,
#: about 2,500 px): sigma 64 px, dilation 100 px. The study states those lengths at this
#: width and rescales them with each image (``at_image_scale``), so that a 512 px synthetic
#: radiograph gets the same proportions (sigma 12.9 px) as a real one.
REFERENCE_WIDTH_PX = 2544


def at_image_scale(px: float, image_width: int) -> float:
    """A length in pixels of a real radiograph ``REFERENCE_WIDTH_PX`` wide -> pixels of an image ``image_width`` wide."""
    return float(px) * image_width / REFERENCE_WIDTH_PX


def _clean_fixations(fixations: pd.DataFrame, image_size: tuple[int, int], where: str) -> tuple[pd.DataFrame, int]:
    missing = [c for c in ("x", "y", "start", "end") if c not in fixations.columns]
    if missing:
        raise ValueError(f"{where}: fixations lack column(s) {missing}")
    w, h = image_size
    ok = fixations[["x", "y", "start", "end"]].notna().all(axis=1)
    ok &= fixations.x.between(0, w, inclusive="left") & fixations.y.between(0, h, inclusive="left")
    return fixations[ok], int((~ok).sum())


def hva_map(fixations: pd.DataFrame, image_size: tuple[int, int], sigma_px: float | None = 64.0,
            sigma_deg: float | None = None, pixels_per_degree: float | None = None,
            weight: str = "count", out_size: tuple[int, int] | None = (512, 512),
            where: str = "reading") -> np.ndarray:
    """HVA heat map: ``(H_out, W_out)`` float32 in [0, 1] (all zeros when no fixation remains).

    fixations: DataFrame with x, y (original pixels), start, end (s).
    image_size: (width, height) of the original image, pixels.
    sigma_px: Gaussian sigma in original-image pixels (authors 64); or give ``sigma_deg``
        and ``pixels_per_degree`` (REFLACX angular resolution) instead.
    weight: "count" (each fixation 1, as the authors' code) or "duration" (seconds).
    out_size: (width, height) of the map; None = original size. The map is computed at
        this size with coordinates and sigma scaled, which is equivalent and faster.
    where: name of the reading, used in warnings.
    """
    if weight not in ("count", "duration"):
        raise ValueError(f"weight: expected 'count' or 'duration', got {weight!r}")
    if sigma_deg is not None:
        if not pixels_per_degree or pixels_per_degree <= 0:
            raise ValueError("pixels_per_degree: needed (> 0) when sigma is given in degrees")
        sigma_px = sigma_deg * pixels_per_degree
    if sigma_px is None or sigma_px <= 0:
        raise ValueError(f"sigma_px: expected > 0 pixels, got {sigma_px}")
    w, h = image_size
    ow, oh = out_size if out_size is not None else (w, h)
    fix, dropped = _clean_fixations(fixations, image_size, where)
    if dropped:
        warnings.warn(f"{where}: {dropped} fixation(s) off the image or with missing fields were dropped",
                      stacklevel=2)
    grid = np.zeros((oh, ow), np.float32)
    if len(fix) == 0:
        warnings.warn(f"{where}: no fixations left; the HVA map is empty", EmptyHVAWarning, stacklevel=2)
        return grid
    xs = np.clip((fix.x.to_numpy() * ow / w).astype(int), 0, ow - 1)
    ys = np.clip((fix.y.to_numpy() * oh / h).astype(int), 0, oh - 1)
    wts = np.ones(len(fix), np.float32) if weight == "count" else (fix.end - fix.start).clip(lower=0).to_numpy(np.float32)
    np.add.at(grid, (ys, xs), wts)
    sx, sy = sigma_px * ow / w, sigma_px * oh / h
    grid = cv2.GaussianBlur(grid, (0, 0), sigmaX=sx, sigmaY=sy, borderType=cv2.BORDER_CONSTANT)
    peak = float(grid.max())
    return grid / peak if peak > 0 else grid


def sentence_starts(words: pd.DataFrame, pause_s: float = 0.5) -> list[int]:
    """Index in ``words`` of the first word of each dictated sentence.

    words: tokens as the readers give them (REFLACX's convention: "." and "," are tokens of
    their own; EGD-CXR's transcripts are converted to it). A sentence ends at a "." token
    (or a token ending in ".", "?" or "!"). A transcript without any such token falls back on
    pauses: a gap longer than ``pause_s`` seconds between words starts a new sentence.
    """
    if len(words) == 0:
        return []
    tokens = words.word.astype(str).str.strip().to_numpy()
    ends = np.array([t.endswith((".", "?", "!")) for t in tokens])
    if ends.any():
        starts = [0] + [i + 1 for i in np.nonzero(ends)[0] if i + 1 < len(tokens)]
        return [i for i in starts if tokens[i] not in (".", ",")]
    begins, stops = words.start.to_numpy(), words.end.to_numpy()
    return [0] + [i for i in range(1, len(words)) if begins[i] - stops[i - 1] > pause_s]


def finding_window(words: pd.DataFrame, keywords: Sequence[str], lead_s: float = WINDOW_LEAD_S) -> tuple[float, float] | None:
    """Time window (s) in which a finding was reported, or None if its words never occur.

    [start of the sentence with the first mention - ``lead_s``, end of the last mention].
    Sentences come from the tokens themselves (``sentence_starts``), as on the real files.
    """
    keys = {k.lower() for k in keywords}
    tokens = words.word.astype(str).str.lower().str.strip(".,;:!?")
    hits = np.nonzero(tokens.isin(keys).to_numpy())[0]
    if len(hits) == 0:
        return None
    starts = sentence_starts(words)
    first_sentence = max(s for s in starts if s <= hits[0])
    return float(words.start.iloc[first_sentence]) - lead_s, float(words.end.iloc[hits[-1]])


def finding_fixations(fixations: pd.DataFrame, window: tuple[float, float] | None) -> pd.DataFrame:
    """The fixations that start inside ``window`` (empty if the window is None)."""
    if window is None:
        return fixations.iloc[0:0]
    t0, t1 = window
    return fixations[(fixations.start >= t0) & (fixations.start <= t1)]


def threshold(hva: np.ndarray, lam: float, dilate_px: int = 0, iterations: int = 1) -> np.ndarray:
    """Binary mask of an HVA map: 255 where ``hva >= lam`` (lam in [0, 1]), else 0; uint8.

    dilate_px: side of the square dilation kernel in pixels (authors: 100 at original
    resolution, 3 iterations); 0 = none.
    """
    if not 0 <= lam <= 1:
        raise ValueError(f"lam: expected a threshold in [0, 1], got {lam}")
    mask = np.where(hva >= lam, 255, 0).astype(np.uint8) if hva.any() else np.zeros(hva.shape, np.uint8)
    if dilate_px > 0 and mask.any():
        mask = cv2.dilate(mask, np.ones((dilate_px, dilate_px), np.uint8), iterations=iterations)
    return mask


def box_agreement(mask: np.ndarray, box: tuple[float, float, float, float]) -> tuple[bool, float]:
    """How a binary gaze mask agrees with a finding box (same pixel grid).

    Returns (hit: any mask pixel inside the box, IoU of the mask and the filled box).
    """
    m = np.asarray(mask) > 0
    h, w = m.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    boxed = np.zeros_like(m)
    boxed[y0:y1, x0:x1] = True
    inter = int((m & boxed).sum())
    union = int((m | boxed).sum())
    return inter > 0, (inter / union if union else 0.0)


def finding_hva(record, keywords: Sequence[str], sigma_px: float = 64.0,
                out_size: tuple[int, int] = (512, 512)) -> np.ndarray:
    """Per-finding HVA map V^m of one reading: ``(H_out, W_out)`` float32 in [0, 1].

    record: a ``data.Record`` with fixations, words, report and image_size.
    keywords: the words that name the finding in the dictation (``labels.FINDING_KEYWORDS``).
    An empty window (the finding is never named, or no fixation falls in its window) gives an
    all-zero map and a warning naming the reading.
    """
    where = f"reading {record.reading_id or record.dicom_id}"
    window = finding_window(record.words, keywords)
    fix = finding_fixations(record.fixations, window)
    if fix.empty:
        warnings.warn(f"{where}: no fixation while {'/'.join(keywords) or 'the finding'} was reported; "
                      "its HVA map is empty", EmptyHVAWarning, stacklevel=2)
        return np.zeros(out_size[::-1], np.float32)
    return hva_map(fix, record.image_size, sigma_px=sigma_px, out_size=out_size, where=where)


def reading_findings(record, truth: pd.DataFrame | None = None) -> list[tuple[str, tuple[str, ...], tuple[float, float, float, float] | None]]:
    """(finding in the MIMIC-CXR-LT vocabulary, its keywords, box in original pixels) per finding.

    truth: the synthetic cohort's ``ground_truth/findings.csv`` (dicom_id, label, xmin, ymin,
    xmax, ymax); None for real data, where the radiologist's REFLACX boxes are used, each box
    label mapped to the MIMIC-CXR-LT classes it stands for (``labels.LT_TO_REFLACX``).
    EGD-CXR readings on real data have no finding boxes: their findings are the image's
    positive CheXpert labels (the ``__chx`` columns), with box None; the per-finding map V^m
    comes from the word-level transcript the §3.2.2 way (``finding_hva``) all the same.
    """
    from radgazegen.core.labels import EGD_CHEXPERT_COLUMNS, FINDING_KEYWORDS, LT_TO_REFLACX, LT_TO_REFLACX_PHASE_1

    if truth is not None:
        rows = truth[truth.dicom_id == record.dicom_id]
        return [(r.label, FINDING_KEYWORDS[r.label], (r.xmin, r.ymin, r.xmax, r.ymax)) for r in rows.itertuples()]
    if record.source == "egd-cxr":
        return [(lt, FINDING_KEYWORDS[lt], None) for lt, col in EGD_CHEXPERT_COLUMNS.items()
                if lt in FINDING_KEYWORDS and record.labels.get(col) == 1.0]
    out = []
    for b in record.boxes:
        for lt in sorted({lt for table in (LT_TO_REFLACX, LT_TO_REFLACX_PHASE_1)
                          for lt, rx in table.items() if rx == b.label}):
            out.append((lt, FINDING_KEYWORDS.get(lt, ()), (b.xmin, b.ymin, b.xmax, b.ymax)))
    return out


def box_to_grid(box: tuple[float, float, float, float], image_size: tuple[int, int],
                grid_size: tuple[int, int] = (512, 512)) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) in original pixels of an image of ``image_size`` (w, h) -> ``grid_size`` pixels."""
    sx, sy = grid_size[0] / image_size[0], grid_size[1] / image_size[1]
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def finding_boxes(truth: pd.DataFrame, dicom_id: str, finding: str | None = None,
                  image_size: tuple[int, int] | None = None, size: int | tuple[int, int] | None = None) -> list[tuple]:
    """The study's one ground-truth box lookup (chapters 03, 06's oracle, 07, 13): the boxes of image
    ``dicom_id`` (of ``finding`` only, when given) in ``synthetic.read_ground_truth``'s table
    ``truth``: ``(x0, y0, x1, y1)`` int pixels of the image (max exclusive), or, with
    ``image_size`` (w, h) and ``size`` (a side, or (w, h)), float pixels of that grid
    (``box_to_grid``); [] when it has none."""
    from radgazegen.synthetic import truth_boxes

    boxes = truth_boxes(truth, dicom_id, finding)
    if image_size is None:
        return boxes
    grid = (size, size) if isinstance(size, int) else tuple(size)
    return [box_to_grid(b, image_size, grid) for b in boxes]


def finding_box(truth: pd.DataFrame | None, dicom_id: str, finding: str, image_size: tuple[int, int],
                grid_size: tuple[int, int]) -> tuple[float, float, float, float] | None:
    """The first of ``finding_boxes`` of ``finding`` on image ``dicom_id``, in ``grid_size``
    (w, h) pixels of an image of ``image_size`` (w, h) pixels; None on real data (``truth``
    None) and when the image has no such finding (chapters 03, 07)."""
    boxes = finding_boxes(truth, dicom_id, finding, image_size, grid_size) if truth is not None else []
    return boxes[0] if boxes else None
