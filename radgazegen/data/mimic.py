"""MIMIC-CXR-JPG / MIMIC-CXR, CheXpert test and MIMIC-CXR-LT readers, and image loading
(JPG/PNG through PIL, DICOM with its VOI LUT)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from radgazegen.core.artifacts import record_path
from radgazegen.core.labels import (
    CHEXPERT_LABELS, MIMIC_LT_CLASSES,
)
from radgazegen.data.records import (
    LT_FILES, DataError, Record, Records, _need, _csv, _numeric, _check_label_columns, _check_label_values, _mimic_jpg,
    _header_size, _mimic_sizes, _report_text, _check_images,
)


def read_mimic_cxr(jpg_root: str | Path, reports_root: str | Path | None = None,
                   verify_images: bool = False) -> Records:
    """MIMIC-CXR-JPG images with split, CheXpert labels (1 / 0 / -1 / nan) and reports."""
    jpg_root = Path(jpg_root)
    record_path(jpg_root)
    mpath = jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz"
    meta = _csv(mpath, ("dicom_id", "subject_id", "study_id", "Rows", "Columns", "ViewPosition"))
    meta = _numeric(meta, ("subject_id", "study_id", "Rows", "Columns"), mpath)
    spath = jpg_root / "mimic-cxr-2.0.0-split.csv.gz"
    split = _csv(spath, ("dicom_id", "split")).set_index("dicom_id")["split"].to_dict()
    cpath = jpg_root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    chex = _csv(cpath, ("subject_id", "study_id"))
    _check_label_columns([c for c in chex.columns if c not in ("subject_id", "study_id")], CHEXPERT_LABELS, cpath)
    chex = _numeric(chex, chex.columns, cpath)
    _check_label_values(chex, [c for c in chex.columns if c not in ("subject_id", "study_id")], (1, 0, -1), cpath)
    label_rows = chex.drop(columns=["subject_id", "study_id"]).to_dict("records")
    labels = {(int(s), int(t)): {c: float(v) for c, v in row.items()}
              for s, t, row in zip(chex.subject_id, chex.study_id, label_rows)}
    out = Records()
    for r in meta.itertuples(index=False):
        sub, stu = str(int(r.subject_id)), str(int(r.study_id))
        report = ""
        if reports_root is not None:
            report = _report_text(Path(reports_root) / "files" / f"p{sub[:2]}" / f"p{sub}" / f"s{stu}.txt")
        out.append(Record(
            source="mimic-cxr", dicom_id=r.dicom_id, image_path=_mimic_jpg(jpg_root, sub, stu, r.dicom_id),
            image_size=(int(r.Columns), int(r.Rows)), report=report,
            labels=labels.get((int(sub), int(stu)), {}), split=str(split.get(r.dicom_id, "")),
            subject_id=sub, study_id=stu, extra={"view": r.ViewPosition}))
    _check_images(out, verify_images)
    return out




def read_chexpert(root: str | Path, verify_images: bool = False) -> Records:
    """CheXpert test radiographs with their 14 labels and, when ``reports.csv`` exists, reports."""
    root = Path(root)
    record_path(root)
    lpath = root / "test_labels.csv"
    labels = _csv(lpath, ("Path",))
    cols = [c for c in labels.columns if c != "Path"]
    _check_label_columns(cols, CHEXPERT_LABELS, lpath)
    labels = _numeric(labels, cols, lpath)
    _check_label_values(labels, cols, (1, 0, -1), lpath)
    reports = {}
    rpath = root / "reports.csv"
    if rpath.exists():
        rep = _csv(rpath, ("name", "report"), keep_default_na=False)
        reports = dict(zip(rep["name"].astype(str), rep["report"].astype(str)))
    out = Records()
    for row in labels.to_dict("records"):
        path = root / row["Path"]
        out.append(Record(source="chexpert", dicom_id=str(row["Path"]), image_path=path,
                          image_size=_header_size(_need(path, "image")), report=reports.get(str(row["Path"]), ""),
                          labels={c: float(row[c]) for c in cols}, split="test",
                          subject_id=str(row["Path"]).split("/")[1] if "/" in str(row["Path"]) else ""))
    return out


def read_mimic_lt(root: str | Path, mimic_cxr_jpg_root: str | Path, verify_images: bool = False) -> Records:
    """MIMIC-CXR-LT single-label files; ``split`` is the file's (train, balanced-val, test, balanced-test)."""
    root, jpg_root = Path(root), Path(mimic_cxr_jpg_root)
    record_path(root)
    sizes = _mimic_sizes(jpg_root)
    out = Records()
    for split, name in LT_FILES.items():
        path = root / f"mimic-cxr-lt_single-label_{name}.csv"
        frame = _csv(path, ("subject_id", "study_id", "dicom_id", "path"))
        cols = [c for c in frame.columns if c not in ("subject_id", "study_id", "dicom_id", "path")]
        _check_label_columns(cols, MIMIC_LT_CLASSES, path)
        missing = [c for c in MIMIC_LT_CLASSES if c not in cols]
        if missing:
            raise DataError(f"{path}: missing column(s) {missing}")
        frame = _numeric(frame, cols, path)
        _check_label_values(frame, cols, (0, 1), path)
        for row in frame.to_dict("records"):
            img = jpg_root / row["path"]
            out.append(Record(source="mimic-cxr-lt", dicom_id=str(row["dicom_id"]), image_path=img,
                              image_size=sizes.get(str(row["dicom_id"])) or _header_size(_need(img, "image")),
                              labels={c: float(row[c]) for c in MIMIC_LT_CLASSES}, split=split,
                              subject_id=str(row["subject_id"]), study_id=str(row["study_id"])))
    _check_images(out, verify_images)
    return out


def load_image(record: Record) -> np.ndarray:
    """The record's radiograph as an (H, W) uint8 array; checks it decodes and has ``image_size``."""
    path = _need(Path(record.image_path), "image")
    try:
        with Image.open(path) as im:
            if im.mode.startswith("I"):  # 16-bit (or 32-bit integer) grey: scaled from the container's range, not clipped
                wide = np.asarray(im).astype(np.float64)
                arr = np.clip(np.round(wide / (257.0 if im.mode.startswith("I;16") or wide.max() <= 65535 else 16843009.0)),
                              0, 255).astype(np.uint8)
            else:
                arr = np.asarray(im.convert("L"))  # 8-bit grey, RGB, RGBA (alpha ignored), palette
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: corrupt or unreadable image ({exc})") from None
    if (arr.shape[1], arr.shape[0]) != tuple(record.image_size):
        raise DataError(f"{path}: image_size is {(arr.shape[1], arr.shape[0])} but the metadata says "
                        f"{tuple(record.image_size)}")
    return arr


def load_dicom(path: str | Path) -> np.ndarray:
    """A DICOM radiograph as displayed: ``(H, W)`` uint8, white = dense.

    The pixel data go through the modality LUT and the VOI LUT or window the file specifies
    (pydicom's ``apply_modality_lut`` / ``apply_voi_lut``), the window's output range is
    scaled to 0..255 (the data's own range when the file sets no window), and MONOCHROME1
    is inverted. A file pydicom cannot read is a ``DataError`` naming it.
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    path = Path(path)
    try:
        ds = pydicom.dcmread(_need(path, "DICOM file"))
        values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    except (pydicom.errors.InvalidDicomError, AttributeError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable DICOM radiograph ({exc})") from None
    if "WindowWidth" in ds or "VOILUTSequence" in ds:
        lo, hi = 0.0, float(2 ** int(ds.BitsStored) - 1)
    else:
        lo, hi = float(values.min()), float(values.max())
    x = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        x = 1.0 - x
    return np.round(x * 255).astype(np.uint8)


def records_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record: source, dicom_id, split, reading_id, n_fixations, n_words, n_boxes, width, height."""
    rows = [{"source": r.source, "dicom_id": r.dicom_id, "split": r.split, "reading_id": r.reading_id,
             "n_fixations": len(r.fixations), "n_words": len(r.words), "n_boxes": len(r.boxes),
             "width": r.image_size[0], "height": r.image_size[1]} for r in records]
    return pd.DataFrame(rows, columns=["source", "dicom_id", "split", "reading_id", "n_fixations",
                                       "n_words", "n_boxes", "width", "height"])
