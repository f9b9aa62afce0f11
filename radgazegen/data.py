"""Readers of the datasets RadGazeGen uses, returning records of one common type.

These are the readers users run on the real releases; the study tests them on the
synthetic cohort, which is written in the same layouts (``radgazegen.synthetic``).

- **MIMIC-CXR-JPG / MIMIC-CXR** {cite}`johnson2019mimiccxr`: 377,110 JPG radiographs of
  227,827 studies, CheXpert-labeller labels per study, free-text reports.
- **REFLACX** {cite}`lanfredi2022reflacx`: 3,032 readings of 2,616 MIMIC-CXR images with
  eye tracking, time-stamped dictations and abnormality ellipses; phases 1-2 hold 109
  images read by five radiologists each.
- **EGD-CXR** {cite}`karargyris2021egd`: 1,083 MIMIC-CXR images read by one radiologist
  with eye tracking and dictation.
- **CheXpert test** {cite}`irvin2019chexpert`: 668 radiographs of 500 patients with 14
  labels; the paper prompts with reports generated for them (``reports.csv``).
- **MIMIC-CXR-LT** {cite}`holste2022mimiclt`: single-label 19-class long-tailed splits.

Conventions of every ``Record``: positions in pixels of the ORIGINAL image (x right,
y down); times in seconds from the start of the dictation's audio; labels in the
source's own vocabulary (``radgazegen.labels``). Fields a source lacks are empty.

TorchXRayVision's dataset classes (``xrv.datasets.MIMIC_Dataset``, ``CheX_Dataset``) read
the same label files but load pixels eagerly per item, filter views and carry neither gaze
nor reports; our records keep paths and load pixels on demand (``load_image``). The tests
check that ``MIMIC_Dataset`` reads the synthetic MIMIC-CXR-JPG files, so the layout agrees
with an independent implementation.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from radgazegen.artifacts import record_path
from radgazegen.labels import (
    CHEXPERT_LABELS, EGD_CHEXPERT_COLUMNS, EGD_CONDITIONS, EGD_FINDINGS, MIMIC_LT_CLASSES,
    REFLACX_BOOLEAN_LABELS, REFLACX_LABELS_PHASE_1, REFLACX_LABELS_PHASE_2_3,
)

FIXATION_COLUMNS = ("x", "y", "start", "end")
WORD_COLUMNS = ("word", "start", "end")
LT_FILES = {"train": "train", "balanced-val": "balanced-val", "test": "test", "balanced-test": "balanced-test"}


class DataError(ValueError):
    """Bad input data; the message names the file and the field (column) at fault."""


@dataclass
class Box:
    """A finding's box in original-image pixels."""

    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c == "word" else float) for c in columns})


@dataclass
class Record:
    """One radiograph (and, for gaze datasets, one reading of it).

    image_size: (width, height) in pixels. fixations: DataFrame x, y (pixels), start, end
    (s). words: DataFrame word, start, end (s). boxes: finding boxes (pixels).
    """

    source: str
    dicom_id: str
    image_path: Path
    image_size: tuple[int, int]
    report: str = ""
    labels: dict[str, float] = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)
    fixations: pd.DataFrame = field(default_factory=lambda: _empty(FIXATION_COLUMNS))
    words: pd.DataFrame = field(default_factory=lambda: _empty(WORD_COLUMNS))
    split: str = ""
    subject_id: str = ""
    study_id: str = ""
    reading_id: str = ""
    extra: dict = field(default_factory=dict)


class Records(list):
    """A list of ``Record`` with ``stats``: counts of what the reader dropped."""

    def __init__(self, items: Iterable[Record] = (), stats: dict[str, int] | None = None):
        super().__init__(items)
        self.stats = dict(stats or {})


# ------------------------------------------------------------------------------ helpers
def _need(path: Path, what: str = "file") -> Path:
    if not path.exists():
        raise DataError(f"{path}: missing {what}")
    return path


def _csv(path: Path, columns: Iterable[str] = (), **kw) -> pd.DataFrame:
    _need(path)
    try:
        frame = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}")
    return frame


def _numeric(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> pd.DataFrame:
    for c in columns:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna() & frame[c].notna() & (frame[c].astype(str).str.strip() != "")
        if bad.any():
            raise DataError(f"{path}: column {c!r} has non-numeric value {frame[c][bad].iloc[0]!r}")
        frame[c] = values
    return frame


def _check_label_columns(columns: Iterable[str], vocabulary: Iterable[str], path: Path) -> None:
    vocab = set(vocabulary)
    unknown = [c for c in columns if c not in vocab]
    if unknown:
        raise DataError(f"{path}: unknown label column(s) {unknown}; expected labels from {sorted(vocab)}")


def _mimic_jpg(jpg_root: Path, subject: str, study: str, dicom_id: str) -> Path:
    return jpg_root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"


def _dcm_to_jpg(jpg_root: Path, dcm_path: str, where: str) -> Path:
    parts = str(dcm_path).replace("\\", "/").split("/")
    if "files" not in parts:
        raise DataError(f"{where}: image path {dcm_path!r} has no 'files/pXX/...' part")
    last = len(parts) - 1 - parts[::-1].index("files")  # "physionet.org/files/mimic-cxr/2.0.0/files/pXX/..."
    rel = "/".join(parts[last:])
    return jpg_root / Path(rel).with_suffix(".jpg")


def _header_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: corrupt or unreadable image ({exc})") from None


def _on_image(fix: pd.DataFrame, size: tuple[int, int]) -> pd.Series:
    w, h = size
    return (fix["x"] >= 0) & (fix["x"] < w) & (fix["y"] >= 0) & (fix["y"] < h) & fix[["x", "y"]].notna().all(axis=1)


def _mimic_sizes(jpg_root: Path) -> dict[str, tuple[int, int]]:
    path = jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz"
    if not path.exists():
        return {}
    meta = _numeric(_csv(path, ("dicom_id", "Rows", "Columns")), ("Rows", "Columns"), path)
    return {d: (int(c), int(r)) for d, r, c in zip(meta.dicom_id, meta.Rows, meta.Columns)}


def _report_text(path: Path) -> str:
    """FINDINGS and IMPRESSION text of a MIMIC-CXR report (whole text if it has neither)."""
    text = _need(path, "report").read_text()
    upper = text.upper()
    parts = []
    for head in ("FINDINGS:", "IMPRESSION:"):
        k = upper.find(head)
        if k >= 0:
            rest = text[k + len(head):]
            stop = min([j for j in (rest.upper().find(h) for h in ("IMPRESSION:", "FINDINGS:")) if j > 0] or [len(rest)])
            parts.append(" ".join(rest[:stop].split()))
    return " ".join(parts) if parts else " ".join(text.split())


def _check_images(records: list[Record], verify: bool) -> None:
    for r in records:
        _need(r.image_path, "image")
        if verify:
            _header_size(r.image_path)


# ------------------------------------------------------------------------------ readers
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


REFLACX_FIXATION_COLUMNS = ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position")


def read_reflacx(root: str | Path, mimic_cxr_jpg_root: str | Path, verify_images: bool = False) -> Records:
    """REFLACX readings (one Record per reading) on MIMIC-CXR-JPG images.

    Dropped and counted in ``stats``: readings with eye_tracking_data_discarded
    ("readings_eye_tracking_discarded"; phases 1-2 only in the release, their folders hold
    no gaze or dictation), fixations off the image ("fixations_outside_image").
    Words are ``timestamps_transcription.csv``'s tokens as written: the dictation's case,
    "." and "," as tokens of their own (``gaze.sentence_starts`` splits sentences on them).
    ``extra``: phase, the free-text "Other" label, the chest box, pixels per degree (image
    pixels), and the display window (width, level) as fractions of the [0, 1] intensity range.
    """
    root, jpg_root = Path(root), Path(mimic_cxr_jpg_root)
    record_path(root)
    stats = {"readings_eye_tracking_discarded": 0, "fixations_outside_image": 0}
    out = Records()
    phases = sorted((root / "main_data").glob("metadata_phase_*.csv"))
    if not phases:
        raise DataError(f"{root / 'main_data'}: missing metadata_phase_*.csv")
    base_cols = ("id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
                 "image_size_x", "image_size_y")
    for mpath in phases:
        phase = int(mpath.stem.rsplit("_", 1)[1])
        meta = _csv(mpath, base_cols, keep_default_na=False)
        vocab = REFLACX_LABELS_PHASE_1 if phase == 1 else REFLACX_LABELS_PHASE_2_3
        label_cols = [c for c in meta.columns if c not in base_cols]
        _check_label_columns(label_cols, vocab, mpath)
        meta = _numeric(meta, ("image_size_x", "image_size_y"), mpath)
        for row in meta.to_dict("records"):
            if str(row["eye_tracking_data_discarded"]).strip().lower() in ("true", "1"):
                stats["readings_eye_tracking_discarded"] += 1
                continue
            rid = str(row["id"])
            d = root / "main_data" / rid
            size = (int(row["image_size_x"]), int(row["image_size_y"]))
            fpath = d / "fixations.csv"
            fx = _numeric(_csv(fpath, REFLACX_FIXATION_COLUMNS), REFLACX_FIXATION_COLUMNS, fpath)
            fix = pd.DataFrame({"x": fx.x_position.astype(float), "y": fx.y_position.astype(float),
                                "start": fx.timestamp_start_fixation.astype(float),
                                "end": fx.timestamp_end_fixation.astype(float)})
            keep = _on_image(fix, size)
            stats["fixations_outside_image"] += int((~keep).sum())
            wpath = d / "timestamps_transcription.csv"
            wd = _csv(wpath, ("word", "timestamp_start_word", "timestamp_end_word"), keep_default_na=False)
            wd = _numeric(wd, ("timestamp_start_word", "timestamp_end_word"), wpath)
            words = pd.DataFrame({"word": wd.word.astype(str), "start": wd.timestamp_start_word.astype(float),
                                  "end": wd.timestamp_end_word.astype(float)})
            epath = d / "anomaly_location_ellipses.csv"
            ell = _csv(epath, ("xmin", "ymin", "xmax", "ymax"))
            ell_labels = [c for c in ell.columns if c not in ("xmin", "ymin", "xmax", "ymax", "certainty")]
            _check_label_columns(ell_labels, vocab, epath)
            ell = _numeric(ell, ("xmin", "ymin", "xmax", "ymax"), epath)
            boxes = [Box(c, float(e["xmin"]), float(e["ymin"]), float(e["xmax"]), float(e["ymax"]))
                     for e in ell.to_dict("records") for c in ell_labels
                     if str(e[c]).strip().lower() in ("true", "1")]
            cb = _csv(d / "chest_bounding_box.csv", ("xmin", "ymin", "xmax", "ymax"))
            labels = {}
            for c in label_cols:
                v = row[c]
                if c in REFLACX_BOOLEAN_LABELS:
                    labels[c] = float(str(v).strip().lower() in ("true", "1"))
                elif c == "Other":
                    labels[c] = float(bool(str(v).strip()))
                else:
                    try:
                        labels[c] = float(v) if str(v).strip() != "" else 0.0
                    except ValueError:
                        raise DataError(f"{mpath}: column {c!r} has non-numeric value {v!r} (reading {rid})") from None
            out.append(Record(
                source="reflacx", dicom_id=str(row["dicom_id"]),
                image_path=_dcm_to_jpg(jpg_root, row["image"], f"{mpath} column 'image'"),
                image_size=size, report=_need(d / "transcription.txt").read_text().strip(),
                labels=labels, boxes=boxes, fixations=fix[keep].reset_index(drop=True), words=words,
                split=str(row["split"]), subject_id=str(row["subject_id"]), reading_id=rid,
                extra={"phase": phase, "other": str(row.get("Other", "")),
                       "chest_box": tuple(float(v) for v in cb.iloc[0][["xmin", "ymin", "xmax", "ymax"]]),
                       "pixels_per_degree": (float(fx["angular_resolution_x_pixels_per_degree"].mean()),
                                             float(fx["angular_resolution_y_pixels_per_degree"].mean()))
                       if "angular_resolution_x_pixels_per_degree" in fx.columns else (math.nan, math.nan),
                       "window": (float(fx["window_width"].median()), float(fx["window_level"].median()))
                       if {"window_width", "window_level"} <= set(fx.columns) else (math.nan, math.nan)}))
    _check_images(out, verify_images)
    out.stats = stats
    return out


EGD_FIXATION_COLUMNS = ("DICOM_ID", "SESSION_ID", "Time (in secs)", "FPOGD", "X_ORIGINAL", "Y_ORIGINAL")


def _phrase_words(phrases: list[dict], where: Path) -> pd.DataFrame:
    """EGD-CXR's speech-to-text phrases -> tokens in REFLACX's convention (case kept, "." and ","
    their own zero-length tokens), so sentence boundaries are found the same way in both.

    A phrase of several words has its time spread over them in proportion to their length.
    """
    rows = []
    for k, p in enumerate(phrases):
        try:
            text, a, b = str(p["phrase"]), float(p["begin_time"]), float(p["end_time"])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: time_stamped_text[{k}] needs phrase, begin_time, end_time") from None
        toks = text.split()
        if not toks:
            continue
        weights = np.array([len(t) + 1 for t in toks], float)
        edges = a + (b - a) * np.concatenate([[0], np.cumsum(weights) / weights.sum()])
        for i, tok in enumerate(toks):
            word = tok.rstrip(".,")
            if word:
                rows.append((word, edges[i], edges[i + 1]))
            rows += [(mark, edges[i + 1], edges[i + 1]) for mark in tok[len(word):]]
    return pd.DataFrame(rows, columns=list(WORD_COLUMNS)) if rows else _empty(WORD_COLUMNS)


def read_egd_cxr(root: str | Path, mimic_cxr_jpg_root: str | Path, verify_images: bool = False) -> Records:
    """EGD-CXR readings on MIMIC-CXR-JPG images.

    Fixations: start = "Time (in secs)" (from the start of the case's audio), end = start +
    FPOGD, position X_ORIGINAL / Y_ORIGINAL; those at -1 or off the image are dropped and
    counted ("fixations_outside_image"); X_ORIGINAL is the release's own mapping of the screen
    fraction FPOGX through the screen-pixel pads (``synthetic.egd``). Words: the word-level
    transcript as tokens in REFLACX's convention (``_phrase_words``).
    """
    root, jpg_root = Path(root), Path(mimic_cxr_jpg_root)
    record_path(root)
    mpath = root / "master_sheet.csv"
    master = _csv(mpath, ("dicom_id", "path", "study_id", "patient_id"))
    known = set(EGD_CONDITIONS) | set(EGD_FINDINGS) | set(EGD_CHEXPERT_COLUMNS.values())
    label_cols = [c for c in master.columns if c in known or c.endswith("__chx")]
    _check_label_columns(label_cols, known, mpath)
    master = _numeric(master, label_cols, mpath)
    fpath = root / "fixations.csv"
    fx = _numeric(_csv(fpath, EGD_FIXATION_COLUMNS), EGD_FIXATION_COLUMNS[2:], fpath)
    groups = dict(tuple(fx.groupby("DICOM_ID", sort=False)))
    sizes = _mimic_sizes(jpg_root)
    stats = {"fixations_outside_image": 0}
    out = Records()
    for row in master.to_dict("records"):
        did = str(row["dicom_id"])
        img = _dcm_to_jpg(jpg_root, row["path"], f"{mpath} column 'path'")
        size = sizes.get(did) or _header_size(_need(img, "image"))
        g = groups.get(did)
        fix, session = _empty(FIXATION_COLUMNS), ""
        if g is not None:
            fix = pd.DataFrame({"x": g["X_ORIGINAL"].astype(float).to_numpy(), "y": g["Y_ORIGINAL"].astype(float).to_numpy(),
                                "start": g["Time (in secs)"].astype(float).to_numpy()})
            fix["end"] = fix["start"] + g["FPOGD"].astype(float).to_numpy()
            keep = _on_image(fix, size) & (fix.x != -1) & (fix.y != -1)
            stats["fixations_outside_image"] += int((~keep).sum())
            fix = fix[keep].reset_index(drop=True)
            session = str(g["SESSION_ID"].iloc[0])
        tpath = root / "audio_segmentation_transcripts" / did / "transcript.json"
        report, words = "", _empty(WORD_COLUMNS)
        if tpath.exists():
            try:
                tr = json.loads(tpath.read_text())
            except json.JSONDecodeError as exc:
                raise DataError(f"{tpath}: not valid JSON ({exc})") from None
            if "full_text" not in tr or "time_stamped_text" not in tr:
                raise DataError(f"{tpath}: missing field 'full_text' or 'time_stamped_text'")
            report, words = str(tr["full_text"]), _phrase_words(tr["time_stamped_text"], tpath)
        out.append(Record(
            source="egd-cxr", dicom_id=did, image_path=img, image_size=tuple(size), report=report,
            labels={c: float(row[c]) for c in label_cols}, fixations=fix, words=words,
            subject_id=str(row["patient_id"]), study_id=str(row["study_id"]), reading_id=session,
            extra={"pads": {k: row.get(f"image_{k}_pad") for k in ("top", "bottom", "left", "right")}}))
    _check_images(out, verify_images)
    out.stats = stats
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
            arr = np.asarray(im.convert("L"))
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
