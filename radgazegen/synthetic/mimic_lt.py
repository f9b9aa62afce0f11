"""MIMIC-CXR-LT (2022): single-label long-tailed splits of MIMIC-CXR-JPG images.

Files ``mimic-cxr-lt_single-label_{train,balanced-val,test,balanced-test}.csv`` with the
columns of the public label files: subject_id, study_id, dicom_id, path (relative to the
MIMIC-CXR-JPG root), then the 19 one-hot classes in the files' order
(``labels.MIMIC_LT_FILE_COLUMNS``). The balanced sets hold the same number of images per
class (15 and 30 in the release; ``CohortConfig.lt_balanced_*_per_class`` here); every
class keeps at least one training image. Read by ``data.read_mimic_lt``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from radgazegen.core.labels import MIMIC_LT_CLASSES, MIMIC_LT_FILE_COLUMNS
from radgazegen.synthetic.config import Case, CohortConfig
from radgazegen.synthetic.files import write_csv

SPLITS = ("train", "balanced-val", "test", "balanced-test")
ID_COLUMNS = ["subject_id", "study_id", "dicom_id", "path"]


def write_mimic_lt(root: Path, cfg: CohortConfig, cases: list[Case], rng) -> None:
    """Assign each case (by its first label) to one split and write the four files."""
    by_class: dict[str, list[Case]] = {c: [] for c in MIMIC_LT_CLASSES}
    for case in cases:
        by_class[case.labels[0]].append(case)
    assign: dict[int, str] = {}
    nv, nt = cfg.lt_balanced_val_per_class, cfg.lt_balanced_test_per_class
    for members in by_class.values():
        for k, i in enumerate(rng.permutation(len(members))):
            case = members[i]
            if k < nv:
                assign[case.index] = "balanced-val"
            elif k < nv + nt:
                assign[case.index] = "balanced-test"
            elif k == nv + nt:
                assign[case.index] = "train"
            else:
                assign[case.index] = "train" if rng.random() < 0.75 else "test"
    for split in SPLITS:
        rows = [{"subject_id": int(c.subject_id), "study_id": int(c.study_id), "dicom_id": c.dicom_id,
                 "path": c.jpg_path, **{k: int(k == c.labels[0]) for k in MIMIC_LT_FILE_COLUMNS}}
                for c in cases if assign[c.index] == split]
        write_csv(root / "mimic-cxr-lt" / f"mimic-cxr-lt_single-label_{split}.csv",
                  pd.DataFrame(rows, columns=[*ID_COLUMNS, *MIMIC_LT_FILE_COLUMNS]))
