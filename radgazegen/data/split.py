"""The paper's train / test split of the gaze datasets (§4 "Datasets", §4.1).

Paper: training uses "the entire first dataset" (EGD-CXR, n=1,083) and "the samples for
which only single radiologist eye gaze are collected from REFLACX (n=2,507)", with the
overlapping samples removed from the first dataset, n=3,580 in all; the "remaining n=110
from REFLACX" (its multi-reader images, read by five radiologists) are held out for
evaluation.

Rules, per image (``dicom_id``):

1. test  = REFLACX images with readings by more than one radiologist (REFLACX phases 1-2,
   the images read by five radiologists: an image of those phases stays in test even when
   discarded eye tracking leaves it a single usable reading);
2. train = REFLACX single-reader images not in test, each with its REFLACX reading;
3. train += EGD-CXR images that are neither in test nor already in train (the overlap
   with REFLACX is removed from EGD-CXR, as the paper says).
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

SPLIT_COLUMNS = ("dicom_id", "split", "gaze_source", "reading_ids", "n_readers")


def paper_split(reflacx: Sequence, egd: Sequence) -> pd.DataFrame:
    """Assign every gaze image to ``train`` or ``test`` following the paper.

    reflacx, egd: records from ``read_reflacx`` / ``read_egd_cxr`` (one per reading).
    Returns one row per image: dicom_id, split ("train" | "test"), gaze_source
    ("reflacx" | "egd-cxr"), reading_ids ("|"-joined), n_readers; sorted by split, dicom_id.
    """
    readings: dict[str, list[str]] = {}
    multi_phase: set[str] = set()
    for r in reflacx:
        readings.setdefault(r.dicom_id, []).append(r.reading_id)
        if (getattr(r, "extra", None) or {}).get("phase") in (1, 2):
            multi_phase.add(r.dicom_id)
    rows = []
    for dicom_id, ids in readings.items():
        split = "test" if len(ids) > 1 or dicom_id in multi_phase else "train"
        rows.append((dicom_id, split, "reflacx", "|".join(sorted(ids)), len(ids)))
    taken = set(readings)
    egd_readings: dict[str, list[str]] = {}
    for r in egd:
        egd_readings.setdefault(r.dicom_id, []).append(r.reading_id)
    for dicom_id, ids in egd_readings.items():
        if dicom_id in taken:
            continue
        rows.append((dicom_id, "train", "egd-cxr", "|".join(sorted(ids)), len(ids)))
    frame = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    return frame.sort_values(["split", "dicom_id"], ignore_index=True)


def overlap_summary(reflacx: Sequence, egd: Sequence) -> dict[str, int]:
    """Counts the paper reports: images per source, the EGD/REFLACX overlap, train, test."""
    split = paper_split(reflacx, egd)
    reflacx_ids = {r.dicom_id for r in reflacx}
    egd_ids = {r.dicom_id for r in egd}
    multi = set(split.loc[split.split == "test", "dicom_id"])
    return {
        "egd_cxr_images": len(egd_ids),
        "reflacx_images": len(reflacx_ids),
        "reflacx_single_reader_images": len(reflacx_ids - multi),
        "reflacx_multi_reader_images": len(multi),
        "egd_reflacx_overlap": len(egd_ids & reflacx_ids),
        "train": int((split.split == "train").sum()),
        "test": int((split.split == "test").sum()),
    }


def check_counts(summary: dict[str, int], expected_train: int | None, expected_test: int | None) -> list[str]:
    """Messages for each count that differs from the expected one (empty list: all match)."""
    out = []
    for key, expected in (("train", expected_train), ("test", expected_test)):
        if expected is not None and summary[key] != expected:
            out.append(f"{key}: expected {expected} images, the data gave {summary[key]}")
    return out


def gaze_readings(split: pd.DataFrame, reflacx: list, egd: list, which: str = "train") -> list:
    """The reading that supplies each ``which``-split image's gaze, in the split's order.

    split: the data-preparation split (``SPLIT_COLUMNS``); reflacx / egd: records from
    ``data.read_reflacx`` / ``data.read_egd_cxr``. Multi-reader REFLACX images use their first
    listed reading. A reading named by the split but absent from the records is a ``KeyError``
    naming the image and the reading.
    """
    by_reading = {r.reading_id: r for r in reflacx}
    egd_by_image = {r.dicom_id: r for r in egd}
    out = []
    for row in split[split.split == which].itertuples():
        if row.gaze_source == "egd-cxr":
            key, table = row.dicom_id, egd_by_image
        else:
            key, table = str(row.reading_ids).split("|")[0], by_reading
        if key not in table:
            raise KeyError(f"split.csv: image {row.dicom_id}: {row.gaze_source} reading {key} not found")
        out.append(table[key])
    return out
