"""The eye-tracking releases: REFLACX and EGD-CXR readers (gaze in original-image pixels,
times from the start of the dictation)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from radgazegen.core.artifacts import record_path
from radgazegen.core.labels import (
    EGD_CHEXPERT_COLUMNS, EGD_CONDITIONS, EGD_FINDINGS, REFLACX_BOOLEAN_LABELS, REFLACX_LABELS_PHASE_1, REFLACX_LABELS_PHASE_2_3,
)
from radgazegen.data.records import (
    FIXATION_COLUMNS, WORD_COLUMNS, DataError, Box, _empty, Record, Records, _need, _csv, _numeric,
    _check_label_columns, _check_label_values, _dcm_to_jpg, _header_size, _on_image, _valid_time, _mimic_sizes, _check_images,
    read_text,
)


REFLACX_FIXATION_COLUMNS = ("timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position")


def read_reflacx(root: str | Path, mimic_cxr_jpg_root: str | Path, verify_images: bool = False) -> Records:
    """REFLACX readings (one Record per reading) on MIMIC-CXR-JPG images.

    Dropped and counted in ``stats``: readings with eye_tracking_data_discarded
    ("readings_eye_tracking_discarded"; phases 1-2 only in the release, their folders hold
    no gaze or dictation), fixations off the image or without a position
    ("fixations_outside_image"), fixations without a start or ending before they start
    ("fixations_invalid_time"); readings left with no fixation are counted
    ("readings_without_fixations") and kept (their HVA maps are empty).
    Words are ``timestamps_transcription.csv``'s tokens as written: the dictation's case,
    "." and "," as tokens of their own (``gaze.sentence_starts`` splits sentences on them).
    ``extra``: phase, the free-text "Other" label, the chest box, pixels per degree (image
    pixels), and the display window (width, level) as fractions of the [0, 1] intensity range.
    """
    root, jpg_root = Path(root), Path(mimic_cxr_jpg_root)
    record_path(root)
    stats = {"readings_eye_tracking_discarded": 0, "fixations_outside_image": 0, "fixations_invalid_time": 0,
             "readings_without_fixations": 0}
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
            timed = _valid_time(fix)
            stats["fixations_invalid_time"] += int((keep & ~timed).sum())
            keep &= timed
            stats["readings_without_fixations"] += int(not keep.any())
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
                image_size=size, report=read_text(d / "transcription.txt", "transcription").strip(),
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
    counted ("fixations_outside_image"), as are those without a start or ending before they start
    ("fixations_invalid_time"), and cases left with no fixation ("readings_without_fixations"); X_ORIGINAL is the release's own mapping of the screen
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
    stats = {"fixations_outside_image": 0, "fixations_invalid_time": 0, "readings_without_fixations": 0}
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
            timed = _valid_time(fix)
            stats["fixations_invalid_time"] += int((keep & ~timed).sum())
            keep &= timed
            fix = fix[keep].reset_index(drop=True)
            session = str(g["SESSION_ID"].iloc[0])
        stats["readings_without_fixations"] += int(len(fix) == 0)
        tpath = root / "audio_segmentation_transcripts" / did / "transcript.json"
        report, words = "", _empty(WORD_COLUMNS)
        if tpath.exists():
            try:
                tr = json.loads(read_text(tpath, "transcript"))
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


