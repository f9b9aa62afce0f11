"""MIMIC-CXR-JPG (images, metadata, split, CheXpert / NegBio labels) and MIMIC-CXR (reports).

Layout and conventions of the real releases (read by ``radgazegen.data.read_mimic_cxr``):

- ``mimic-cxr-jpg/files/pXX/p<subject_id>/s<study_id>/<dicom_id>.jpg`` (XX = first two
  digits of subject_id), full size.
- ``mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz``: dicom_id, subject_id, study_id,
  PerformedProcedureStepDescription, ViewPosition, Rows, Columns, StudyDate (a valid
  ``YYYYMMDD`` in MIMIC's shifted future years, e.g. 21800506), StudyTime (a valid
  ``HHMMSS.fff``, e.g. 213014.531), then the coded sequences' meanings.
- ``mimic-cxr-2.0.0-split.csv.gz``: dicom_id, study_id, subject_id, split.
- ``mimic-cxr-2.0.0-{chexpert,negbio}.csv.gz``: subject_id, study_id + 14 labels coded
  1 / 0 / -1 (uncertain) / blank (not mentioned).
- ``mimic-cxr/files/pXX/p<subject_id>/s<study_id>.txt``: the free-text report.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from radgazegen.core import io as rio
from radgazegen.core.labels import CHEXPERT_LABELS
from radgazegen.synthetic.config import Case
from radgazegen.synthetic.files import encode, label_text, write_csv
from radgazegen.synthetic.reports import mimic_report

#: MIMIC's date shift puts studies in the years 2100-2200 (real: e.g. 21800506).
SHIFTED_YEARS = (2110, 2200)


def study_date_time(rng) -> tuple[int, float]:
    """A valid shifted ``StudyDate`` (int YYYYMMDD) and ``StudyTime`` (float HHMMSS.fff)."""
    day = dt.date(SHIFTED_YEARS[0], 1, 1).toordinal() + int(rng.integers(0, 365 * (SHIFTED_YEARS[1] - SHIFTED_YEARS[0])))
    date = dt.date.fromordinal(day)
    seconds = float(rng.uniform(0, 86400 - 0.001))
    hh, rem = divmod(int(seconds), 3600)
    mm, ss = divmod(rem, 60)
    millis = int(round((seconds - int(seconds)) * 1000)) % 1000
    return int(date.strftime("%Y%m%d")), float(f"{hh:02d}{mm:02d}{ss:02d}.{millis:03d}")


class MimicWriter:
    """Writes each case's JPG and report as it comes (``add``), the tables at the end (``finish``)."""

    def __init__(self, root: Path, jpeg_quality: int):
        self.jpg_root, self.report_root = root / "mimic-cxr-jpg", root / "mimic-cxr"
        self.quality = jpeg_quality
        self.meta, self.split, self.chexpert = [], [], []

    def add(self, case: Case) -> None:
        sub, stu = case.subject_id, case.study_id
        rio.write_bytes(self.jpg_root / case.jpg_path, encode(case.phantom.image, ".jpg", self.quality))
        rio.write_text(self.report_root / f"files/p{sub[:2]}/p{sub}/s{stu}.txt", mimic_report(case.dictation))
        w, h = case.size
        date, time = study_date_time(case.rng)
        self.meta.append({
            "dicom_id": case.dicom_id, "subject_id": int(sub), "study_id": int(stu),
            "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": "PA",
            "Rows": h, "Columns": w, "StudyDate": date, "StudyTime": time,
            "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
            "ViewCodeSequence_CodeMeaning": "postero-anterior",
            "PatientOrientationCodeSequence_CodeMeaning": "Erect",
        })
        self.split.append({"dicom_id": case.dicom_id, "study_id": int(stu), "subject_id": int(sub), "split": case.split})
        self.chexpert.append({"subject_id": int(sub), "study_id": int(stu), **case.chexpert})

    def finish(self) -> None:
        meta = pd.DataFrame(self.meta)
        # StudyTime keeps its milliseconds (HHMMSS.fff), whatever the CSV float format
        meta["StudyTime"] = meta["StudyTime"].map(lambda v: f"{v:.3f}")
        write_csv(self.jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz", meta, compress=True)
        write_csv(self.jpg_root / "mimic-cxr-2.0.0-split.csv.gz", pd.DataFrame(self.split), compress=True)
        chex = pd.DataFrame(self.chexpert, columns=["subject_id", "study_id", *CHEXPERT_LABELS])
        chex[list(CHEXPERT_LABELS)] = chex[list(CHEXPERT_LABELS)].map(label_text)
        write_csv(self.jpg_root / "mimic-cxr-2.0.0-chexpert.csv.gz", chex, compress=True)
        write_csv(self.jpg_root / "mimic-cxr-2.0.0-negbio.csv.gz", chex, compress=True)
