"""Checks that a cohort follows the real releases' value conventions, as a table for chapter 00.

Each check reads the cohort's raw files the way the maintainers' code reads the real ones
and counts how many items obey the convention (the tests check the same conventions with
their own code, ``tests/test_cohort_conventions.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radgazegen.core.labels import CHEXPERT_LABELS, EGD_CHEXPERT_COLUMNS

CHECK_COLUMNS = ["dataset", "convention", "items", "obeying"]


def _reflacx_meta(root: Path) -> pd.DataFrame:
    main = root / "reflacx" / "main_data"
    return pd.concat([pd.read_csv(main / f"metadata_phase_{k}.csv").assign(phase=k) for k in (1, 2, 3)],
                     ignore_index=True)


def convention_checks(root: str | Path) -> pd.DataFrame:
    """One row per convention: dataset, convention, items checked, items obeying it."""
    root = Path(root)
    rows = []
    # EGD-CXR: the release's mapping of FPOGX through screen-pixel pads gives X_ORIGINAL
    egd = root / "egd-cxr"
    master = pd.read_csv(egd / "master_sheet.csv", keep_default_na=False, dtype=str).set_index("dicom_id")
    meta = pd.read_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-metadata.csv.gz").set_index("dicom_id")
    fix = pd.read_csv(egd / "fixations.csv")
    fix = fix[fix.DICOM_ID.isin(master.index) & (fix.X_ORIGINAL != -1)]
    m = master.loc[fix.DICOM_ID]
    w = meta.loc[fix.DICOM_ID, "Columns"].to_numpy()
    left, right = m.image_left_pad.astype(int).to_numpy(), m.image_right_pad.astype(int).to_numpy()
    x = (w / (1920 - left - right) * (fix.FPOGX.to_numpy() * 1920 - left)).astype(int)
    rows.append(("EGD-CXR", "X_ORIGINAL = int(W / (1920 - left - right) * (FPOGX * 1920 - left)), pads in screen px",
                 len(fix), int((x == fix.X_ORIGINAL.to_numpy()).sum())))
    conditions = master[["Normal", "CHF", "pneumonia"]].astype(int).sum(axis=1)
    rows.append(("EGD-CXR", "exactly one of Normal / CHF / pneumonia per image", len(master), int((conditions == 1).sum())))
    chex = pd.read_csv(root / "mimic-cxr-jpg" / "mimic-cxr-2.0.0-chexpert.csv.gz", keep_default_na=False,
                       dtype=str).set_index("study_id")
    same = [all(getattr(r, col) == chex.loc[r.study_id, lab] for lab, col in EGD_CHEXPERT_COLUMNS.items())
            for r in master.itertuples()]
    rows.append(("EGD-CXR", "__chx columns copy the MIMIC-CXR CheXpert labels (1 / 0 / -1 / blank)", len(same), int(sum(same))))
    # REFLACX
    rmeta = _reflacx_meta(root)
    live = rmeta[~rmeta.eye_tracking_data_discarded]
    rejoin = []
    for rid in live.id:
        d = root / "reflacx" / "main_data" / rid
        words = pd.read_csv(d / "timestamps_transcription.csv", keep_default_na=False).word
        text = (d / "transcription.txt").read_text()
        rejoin.append(text.replace(".", " .").replace(",", " ,") == " ".join(words))
    rows.append(("REFLACX", "tokens keep case, '.' and ',' apart, and re-join to transcription.txt", len(rejoin), int(sum(rejoin))))
    rows.append(("REFLACX", "id P<phase><trial>R<digits>, phase digit = metadata file's phase", len(rmeta),
                 int((rmeta.id.str.fullmatch(r"P[123]\d{2}R\d+") & (rmeta.id.str[1].astype(int) == rmeta.phase)).sum())))
    gone = rmeta[rmeta.eye_tracking_data_discarded]
    only_labels = [sorted(p.name for p in (root / "reflacx" / "main_data" / rid).iterdir())
                   == ["anomaly_location_ellipses.csv", "chest_bounding_box.csv"] for rid in gone.id]
    rows.append(("REFLACX", "discarded readings: phases 1-2, labels and ellipses only", len(gone),
                 int(sum(ok and p < 3 for ok, p in zip(only_labels, gone.phase)))))
    windows = [pd.read_csv(root / "reflacx" / "main_data" / rid / "fixations.csv",
                           usecols=["window_width", "window_level"]).stack().between(0, 1).all() for rid in live.id]
    rows.append(("REFLACX", "window_width / window_level are fractions of [0, 1]", len(windows), int(sum(windows))))
    multi = rmeta[rmeta.phase < 3]
    labels = [c for c in multi.columns if c not in ("id", "split", "eye_tracking_data_discarded", "image", "dicom_id",
                                                    "subject_id", "image_size_x", "image_size_y", "phase", "Other")]
    differ = [len({tuple(v >= 3 for v in r) for r in g[labels].astype(float).to_numpy()}) > 1
              for _, g in multi.groupby("dicom_id")]
    rows.append(("REFLACX", "multi-reader images on which the readers' positive labels differ", len(differ), int(sum(differ))))
    # MIMIC-CXR-JPG, CheXpert test
    dates = pd.to_datetime(meta.StudyDate.astype(str), format="%Y%m%d", errors="coerce")
    rows.append(("MIMIC-CXR-JPG", "StudyDate a valid YYYYMMDD in a shifted year (2100-2200)", len(meta),
                 int((dates.dt.year.between(2100, 2200)).sum())))
    values = chex[list(CHEXPERT_LABELS)].to_numpy().ravel()
    rows.append(("MIMIC-CXR-JPG", "CheXpert labels written 1.0 / 0.0 / -1.0 / blank", len(values),
                 int(np.isin(values, ["1.0", "0.0", "-1.0", ""]).sum())))
    test = pd.read_csv(root / "chexpert" / "test_labels.csv")
    ids = test.Path.str.extract(r"patient(\d+)")[0].astype(int)
    rows.append(("CheXpert test", "patient ids in the test range 64741-65240", len(ids), int(ids.between(64741, 65240).sum())))
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)
