"""What gaze alone localises (chapter 02): the per-finding gaze mask against the finding's box.

For a finding m with HVA map V^m and box B (both on the ``(S, S)`` control grid), the mask
M = threshold(V^m, lambda) > 0 "hits" when |M ∩ B| > 0, and IoU = |M ∩ B| / |M ∪ B|
(``gaze.box_agreement``). ``localisation_sweep`` measures both over a grid of sigma and
lambda, ``agreement_at_setting`` at the run's own; ``example_findings`` picks the findings
the control figures show.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from radgazegen.controls import gaze
from radgazegen.controls.cache import FindingHVAMaps


def finding_rows(records: Sequence, findings_of: Callable) -> list[tuple]:
    """(record, (finding, keywords, box in original pixels)) for every finding of every
    record, in the records' order. Used by chapter 02."""
    return [(rec, f) for rec in records for f in findings_of(rec)]


def example_findings(rows: Sequence[tuple], hva_finding: dict, n: int) -> list[tuple]:
    """The first row of each finding whose V^m is not all zero, at most ``n`` of them.

    rows: ``finding_rows``' pairs; hva_finding: (dicom id, finding) -> ``(S, S)`` float V^m.
    Used by chapter 02 (the control figures).
    """
    seen, examples = set(), []
    for rec, f in rows:
        if f[0] not in seen and (rec.dicom_id, f[0]) in hva_finding and hva_finding[rec.dicom_id, f[0]].any():
            seen.add(f[0])
            examples.append((rec, f))
    return examples[:n]


SWEEP_COLUMNS = ["sigma_px", "lambda", "finding", "hit", "iou"]


def localisation_sweep(rows: Sequence[tuple], run_dir: str | Path, sigmas_px: Sequence[float],
                       lambdas: Sequence[float], control_size: int) -> pd.DataFrame:
    """Hit and IoU of every finding's gaze mask with its box, per sigma and lambda.

    sigmas_px: HVA sigmas in pixels of a real radiograph (V^m cached per sigma,
    ``FindingHVAMaps``); lambdas: thresholds in [0, 1]. Findings whose V^m is all zero are
    skipped (the caller decides whether their ``EmptyHVAWarning`` shows). Returns one row per
    (sigma, finding, lambda): sigma_px, lambda, finding, hit (bool), iou in [0, 1].
    Used by chapter 02.
    """
    size = (control_size, control_size)
    sweep = []
    for sigma in sigmas_px:
        finding_maps = FindingHVAMaps(run_dir, sigma, control_size)
        for rec, (name, keys, box) in rows:
            v = finding_maps(rec, name, keys)
            if not v.any():
                continue
            for lam in lambdas:
                hit, iou = gaze.box_agreement(gaze.threshold(v, float(lam)), gaze.box_to_grid(box, rec.image_size, size))
                sweep.append({"sigma_px": sigma, "lambda": lam, "finding": name, "hit": hit, "iou": iou})
    return pd.DataFrame(sweep, columns=SWEEP_COLUMNS)


def sweep_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean hit rate and IoU per (sigma_px, lambda), both in [0, 1]. Used by chapter 02."""
    return sweep.groupby(["sigma_px", "lambda"])[["hit", "iou"]].mean()


def agreement_at_setting(rows: Sequence[tuple], hva_finding: dict, hva_lambda: float,
                         size: tuple[int, int]) -> pd.DataFrame:
    """Hit and IoU of each finding at the run's own sigma (the maps ``hva_finding``) and lambda.

    Findings without a box or with an empty (or missing) V^m are left out. Returns columns
    finding, hit (bool), iou in [0, 1]. Used by chapter 02.
    """
    setting_rows = []
    for rec, (name, keys, box) in rows:
        v = hva_finding.get((rec.dicom_id, name))
        if box is not None and v is not None and v.any():
            hit, iou = gaze.box_agreement(gaze.threshold(v, hva_lambda), gaze.box_to_grid(box, rec.image_size, size))
            setting_rows.append({"finding": name, "hit": hit, "iou": iou})
    return pd.DataFrame(setting_rows, columns=["finding", "hit", "iou"])


def localisation_numbers(sweep: pd.DataFrame, summary: pd.DataFrame, at_setting: pd.DataFrame) -> dict:
    """The chapter's glued localisation numbers: n_finding_types (finding types swept),
    hit_at_setting and iou_at_setting (means at the run's setting, NaN without findings),
    n_at_setting, best_iou (the sweep's best mean IoU, NaN for an empty sweep). Used by chapter 02."""
    nan = float("nan")
    return {"n_finding_types": int(sweep["finding"].nunique()),
            "hit_at_setting": float(at_setting["hit"].mean()) if len(at_setting) else nan,
            "iou_at_setting": float(at_setting["iou"].mean()) if len(at_setting) else nan,
            "n_at_setting": len(at_setting),
            "best_iou": float(summary["iou"].max()) if len(summary) else nan}
