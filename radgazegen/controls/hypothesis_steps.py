"""The hypothesis chapter's steps (§3.2.2, Fig. 4): readings, bags, every finding's selection,
the rates of the ground-truth checks.

``hypotheses`` holds the method (gaze mask, bags, hypotheses, the score D and the selection);
this module runs it over a run's readings, the way chapter 03 does:

- ``readings_by_split`` / ``training_labels`` / ``training_radiographs``: the readings whose
  findings get a hypothesis and the labelled training images the bags are drawn from;
- ``hypothesis_caches``: where the selected hypotheses and the dilated gaze masks are stored;
- ``select_for_readings``: every finding's bag, selection and checks (one row each);
- ``hypothesis_examples`` / ``selection_rates`` / ``released_comparison``: what the chapter shows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd

from radgazegen import data
from radgazegen.controls import gaze, hypotheses
from radgazegen.controls.cache import MapCache
from radgazegen.core.labels import MIMIC_LT_CLASSES
from radgazegen.core.progress import tqdm
from radgazegen.data import split as split_mod

#: The checks of one selection, averaged by ``selection_rates``: fractions in [0, 1].
RATE_COLUMNS = ["located", "located_chance", "mixed_right", "mixed_chance"]


def readings_by_split(split: pd.DataFrame, reflacx: list, egd: list) -> tuple[list, dict]:
    """(readings, reading_split): the split's gaze readings, training images first then test
    (``split.gaze_readings``), and dicom id -> "train" / "test". Used by chapter 03."""
    train = split_mod.gaze_readings(split, reflacx, egd, "train")
    test = split_mod.gaze_readings(split, reflacx, egd, "test")
    return train + test, {r.dicom_id: s for s, part in (("train", train), ("test", test)) for r in part}


def training_labels(lt_records: Sequence, split: pd.DataFrame) -> tuple[list, dict, dict, dict]:
    """The bag candidates: MIMIC-CXR-LT training images that are not test images of the split.

    Returns (lt: their records, lt_label: dicom id -> its one class (the largest label),
    lt_record: dicom id -> record, bags: class -> sorted dicom ids, for every class of
    ``MIMIC_LT_CLASSES``, empty where none). Used by chapter 03.
    """
    test_ids = set(split.dicom_id[split.split == "test"])
    lt = [r for r in lt_records if r.split == "train" and r.dicom_id not in test_ids]
    lt_label = {r.dicom_id: max(r.labels, key=r.labels.get) for r in lt}
    lt_record = {r.dicom_id: r for r in lt}
    bags = {k: sorted(d for d, lab in lt_label.items() if lab == k) for k in MIMIC_LT_CLASSES}
    return lt, lt_label, lt_record, bags


def training_radiographs(lt_record: dict, size: tuple[int, int], maxsize: int = 4096) -> Callable[[str], np.ndarray]:
    """dicom id -> its training radiograph on the control grid, ``(S, S)`` uint8 (area
    interpolation), the last ``maxsize`` kept in memory. Used by chapter 03."""

    @lru_cache(maxsize=maxsize)
    def radiograph(dicom_id: str) -> np.ndarray:
        """A training radiograph on the control grid, ``(S, S)`` uint8."""
        return cv2.resize(data.load_image(lt_record[dicom_id]), size, interpolation=cv2.INTER_AREA)

    return radiograph


def hypothesis_caches(run_dir: str | Path, hva_sigma_px: float, control_size: int, hva_lambda: float,
                      mask_dilate_px: int, mask_dilate_iterations: int, n_bag: int, seed: int,
                      features: str) -> tuple[MapCache, MapCache]:
    """(hyp_cache, mask_cache): the selected hypotheses beta^k and the dilated gaze masks,
    ``(S, S)`` uint8 PNGs keyed by every parameter they depend on. The mask is the control the
    authors' released script feeds HVA-CN, and the gaze control of chapter 06's HVA-CN as Eq. 5
    writes it (gaze alone; chapter 13's primary test). Used by chapter 03."""
    common = {"sigma_px": hva_sigma_px, "reference_width_px": gaze.REFERENCE_WIDTH_PX, "size": control_size,
              "lambda": hva_lambda, "dilate_px": mask_dilate_px, "iterations": mask_dilate_iterations}
    hyp_cache = MapCache(run_dir, "hypothesis", {**common, "n_bag": n_bag, "seed": seed, "features": features})
    mask_cache = MapCache(run_dir, "gaze-mask", common)
    return hyp_cache, mask_cache


def located(box: tuple | None, mask: np.ndarray) -> float:
    """1.0 when the finding's ``box`` (control-grid pixels) meets the gaze ``mask``, 0.0 when
    not, NaN without a box. Used by chapter 03."""
    return np.nan if box is None else float(gaze.box_agreement(mask, box)[0])


@dataclass
class HypothesisSetting:
    """The selection's parameters: hva_lambda (threshold of V^k in [0, 1]), mask_dilate_px (side
    of the dilation kernel, pixels of a real radiograph), mask_dilate_iterations, n_bag (images
    per bag), seed (of the bags' random streams)."""
    hva_lambda: float
    mask_dilate_px: int
    mask_dilate_iterations: int
    n_bag: int
    seed: int


def select_for_readings(readings: Sequence, reading_split: dict, truth, hva_maps: Callable, lt_label: dict,
                        radiograph: Callable, extractor, located_fn: Callable, hyp_cache: MapCache,
                        mask_cache: MapCache, setting: HypothesisSetting) -> tuple[list, dict, dict]:
    """Every reported finding's hypothesis (eq-03-hypothesis): (rows, selections, skipped).

    For reading i and finding k (``gaze.reading_findings(rec, truth)``): V^k = ``hva_maps(rec,
    k, keywords)``; its gaze mask; the bag and the mixed bag drawn from
    ``default_rng([seed, i, index of k])``; the selection by D on the bag (stored in
    ``hyp_cache``, the mask in ``mask_cache``) and on the mixed bag. located_fn(dicom id,
    finding, mask) -> 1 / 0 / NaN. rows: one dict per selection (the columns of
    ``hypotheses.csv``); selections: (dicom id, k) -> (record, V^k, mask, ``Selection``);
    skipped: counts of "empty HVA map" and "bag too small". Used by chapter 03.
    """
    s = setting
    rows, selections, skipped = [], {}, {"empty HVA map": 0, "bag too small": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gaze.EmptyHVAWarning)  # counted in the control-maps chapter
        for i, rec in enumerate(tqdm(readings, desc="hypotheses", disable=None)):
            for finding, keys, _ in gaze.reading_findings(rec, truth):
                v = hva_maps(rec, finding, keys)  # V^k
                if not v.any():
                    skipped["empty HVA map"] += 1
                    continue
                mask = hypotheses.gaze_mask(v, s.hva_lambda, s.mask_dilate_px, s.mask_dilate_iterations)
                drawn = hypotheses.draw_bags(finding, lt_label, rec.dicom_id, s.n_bag,
                                             np.random.default_rng([s.seed, i, MIMIC_LT_CLASSES.index(finding)]))
                if drawn is None:
                    skipped["bag too small"] += 1
                    continue
                bag, mixed = drawn
                sel = hypotheses.select_hypothesis(finding, mask, bag, np.stack([radiograph(d) for d in bag]), extractor)
                hyp_cache.get(f"{rec.dicom_id}-{finding}", lambda: sel.hypotheses[sel.best])
                mask_cache.get(f"{rec.dicom_id}-{finding}", lambda: mask)
                hits = [located_fn(d, finding, mask) for d in bag]
                mixed_sel = hypotheses.select_hypothesis(finding, mask, mixed, np.stack([radiograph(d) for d in mixed]), extractor)
                selections[rec.dicom_id, finding] = (rec, v, mask, sel)
                rows.append({"dicom_id": rec.dicom_id, "split": reading_split[rec.dicom_id], "reading_id": rec.reading_id,
                             "finding": finding,
                             "control_path": str(hyp_cache.path(f"{rec.dicom_id}-{finding}")),
                             "mask_path": str(mask_cache.path(f"{rec.dicom_id}-{finding}")),
                             "selected": sel.selected, "score": float(sel.scores[sel.best]),
                             "bag": "|".join(bag), "scores": "|".join(f"{x:.4f}" for x in sel.scores),
                             "located": hits[sel.best], "located_chance": float(np.nanmean(hits)) if not np.isnan(hits).all() else np.nan,
                             "mixed_right": float(lt_label[mixed_sel.selected] == finding),
                             "mixed_chance": 1.0 / len(mixed), "features": extractor.name})
    return rows, selections, skipped


def hypothesis_examples(selections: dict, n: int) -> list[tuple]:
    """The first selection of each finding, in the selections' order, at most ``n``: the
    (record, V^k, mask, ``Selection``) tuples the Fig. 4 analogue draws. Used by chapter 03."""
    shown, examples = set(), []
    for key, value in selections.items():
        if key[1] not in shown:
            shown.add(key[1])
            examples.append(value)
    return examples[:n]


def selection_rates(table: pd.DataFrame) -> tuple[pd.Series | None, pd.DataFrame | None]:
    """(overall, per_finding) of the selections' checks (``RATE_COLUMNS``, fractions in [0, 1]).

    overall: their means over all rows of ``select_for_readings`` (None for no row);
    per_finding: per finding, n and the means, with an "all findings" row last (None for no
    row). Used by chapter 03.
    """
    if table.empty:
        return None, None
    overall = table[RATE_COLUMNS].mean()
    per_finding = table.groupby("finding")[RATE_COLUMNS].mean()
    per_finding.insert(0, "n", table.groupby("finding").size())
    return overall, pd.concat([per_finding, overall.rename("all findings").to_frame().T.assign(n=len(table))])


def released_comparison(selections: dict, radiograph: Callable, extractor, located_fn: Callable) -> pd.DataFrame:
    """The authors' released rule beside the paper's, per selection: finding, "same pick"
    (1 / 0), "paper's pick located", "released pick located" (1 / 0 / NaN; ``located_fn`` as in
    ``select_for_readings``). Used by chapter 03."""
    compare_rows = []
    for (dicom_id, finding), (rec, v, mask, sel) in selections.items():
        pick, _, _ = hypotheses.released_selection(v, mask, np.stack([radiograph(d) for d in sel.bag]), extractor)
        compare_rows.append({"finding": finding, "same pick": float(pick == sel.best),
                             "paper's pick located": located_fn(sel.bag[sel.best], finding, mask),
                             "released pick located": located_fn(sel.bag[pick], finding, mask)})
    return pd.DataFrame(compare_rows)
