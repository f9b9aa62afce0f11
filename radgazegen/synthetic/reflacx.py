"""REFLACX: readings of MIMIC-CXR images with eye tracking, timed dictation and ellipses.

Conventions of the real release (``ricbl/eyetracking``; read by ``data.read_reflacx``):

- Reading ids ``P<phase><trial, 2 digits>R<digits>``: phases 1-2 hold the images read by
  five radiologists (trial = the radiologist, 01-05); phase 3 is single-reader, ``P300R...``.
  A reading is listed in ``main_data/metadata_phase_<phase>.csv`` of its id's phase.
- Discarded eye tracking (``eye_tracking_data_discarded`` True) occurs only in phases 1-2;
  such a reading's folder holds only ``chest_bounding_box.csv`` and
  ``anomaly_location_ellipses.csv`` (its labels and ellipses stand; no gaze, no dictation).
- ``fixations.csv``: positions in pixels of the original image; the set-up is a
  3840x2160 screen on which the image is shown in the ``*_in_screen_coordinates``
  rectangle, the ``*_shown_from_image`` part of it (the whole image here: no zoom);
  ``angular_resolution_*_pixels_per_degree`` in image pixels; ``window_width`` /
  ``window_level`` fractions of the [0, 1] intensity range.
- ``gaze_data/<id>/gaze.csv``: raw samples with ``timestamp_sample`` and the same 15
  position / display columns (the synthetic tracker samples at ``GAZE_HZ``; real ones
  sample faster).
- ``timestamps_transcription.csv``: one row per token; "." and "," are tokens of their
  own and the case of ``transcription.txt`` is kept, so
  ``transcription.replace('.', ' .').replace(',', ' ,') == ' '.join(words)``.
- Readers disagree: on the multi-reader images each radiologist misses each finding with
  probability ``MISS_PROBABILITY`` (then neither dictates it nor labels nor outlines it),
  and each gives his own certainty (3-5) and wording.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radgazegen.core import io as rio
from radgazegen.core.labels import (
    LT_TO_REFLACX, LT_TO_REFLACX_PHASE_1, REFLACX_BOOLEAN_LABELS, REFLACX_LABELS_PHASE_1,
    REFLACX_LABELS_PHASE_2_3,
)
from radgazegen.synthetic.config import Case
from radgazegen.synthetic.files import write_csv
from radgazegen.synthetic.reading import Reading, gaze_samples, simulate_reading
from radgazegen.synthetic.reports import draw_dictation

SCREEN = (3840, 2160)  # REFLACX display, pixels
#: Part of the screen's width the image viewer may use (the rest is the reporting panel).
VIEWER_WIDTH = 2880
GAZE_HZ = 30.0
MISS_PROBABILITY = 0.2

POSITION_COLUMNS = [
    "x_position", "y_position", "pupil_area_normalized",
    "angular_resolution_x_pixels_per_degree", "angular_resolution_y_pixels_per_degree", "window_width",
    "window_level", "xmin_shown_from_image", "ymin_shown_from_image", "xmax_shown_from_image",
    "ymax_shown_from_image", "xmin_in_screen_coordinates", "ymin_in_screen_coordinates",
    "xmax_in_screen_coordinates", "ymax_in_screen_coordinates"]
FIXATION_COLUMNS = ["timestamp_start_fixation", "timestamp_end_fixation", *POSITION_COLUMNS]
GAZE_COLUMNS = ["timestamp_sample", *POSITION_COLUMNS]
META_COLUMNS = ["id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
                "image_size_x", "image_size_y"]


def reading_id(phase: int, trial: int, rng: np.random.Generator) -> str:
    """``P<phase><trial, 2 digits>R<6 digits>``; phase 3 readings have trial 0 (``P300R...``)."""
    return f"P{phase}{trial:02d}R{int(rng.integers(0, 1_000_000)):06d}"


def display(size: tuple[int, int], rng: np.random.Generator) -> dict[str, float]:
    """The display columns of one reading: the whole image shown, fitted in the viewer and
    centred on the 3840x2160 screen; pixels per degree (image pixels) from a screen
    resolution of 60-70 px/deg; window width / level as fractions of [0, 1]."""
    w, h = size
    s = min(SCREEN[1] / h, VIEWER_WIDTH / w)
    x0, y0 = round((SCREEN[0] - w * s) / 2), round((SCREEN[1] - h * s) / 2)
    ppd = float(rng.uniform(60, 70)) / s
    return {"angular_resolution_x_pixels_per_degree": round(ppd, 4),
            "angular_resolution_y_pixels_per_degree": round(ppd, 4),
            "window_width": round(float(rng.uniform(0.85, 1.0)), 4),
            "window_level": round(float(rng.uniform(0.45, 0.55)), 4),
            "xmin_shown_from_image": 0, "ymin_shown_from_image": 0,
            "xmax_shown_from_image": w, "ymax_shown_from_image": h,
            "xmin_in_screen_coordinates": x0, "ymin_in_screen_coordinates": y0,
            "xmax_in_screen_coordinates": x0 + round(w * s), "ymax_in_screen_coordinates": y0 + round(h * s)}


class ReflacxWriter:
    """Writes each reading's folder as it comes (``add``), the metadata files at the end (``finish``)."""

    def __init__(self, root: Path, off_image_fraction: float):
        self.base = root / "reflacx"
        self.off_image = off_image_fraction
        self.meta: dict[int, list[dict]] = {1: [], 2: [], 3: []}
        self._ids: set[str] = set()

    @property
    def n_readings(self) -> int:
        return sum(len(v) for v in self.meta.values())

    def add(self, case: Case, phase: int, readers: int, discarded_reader: int = -1) -> None:
        """The readings of ``case``: ``readers`` radiologists in ``phase``; the one numbered
        ``discarded_reader`` (0-based; -1 none) has its eye tracking discarded."""
        rng = case.rng
        for r in range(readers):
            rid = reading_id(phase, r + 1 if phase < 3 else 0, rng)
            while rid in self._ids:
                rid = reading_id(phase, r + 1 if phase < 3 else 0, rng)
            self._ids.add(rid)
            findings = list(case.phantom.findings)
            dictation = case.dictation
            if readers > 1:  # each radiologist's own reading of the image
                findings = [f for f in findings if rng.random() >= MISS_PROBABILITY]
                dictation = draw_dictation(findings, rng)
            discarded = r == discarded_reader
            reading = None if discarded else simulate_reading(case.phantom, dictation, findings, rng, self.off_image)
            self.meta[phase].append(self._write(case, rid, phase, findings, reading, rng, discarded))

    def _write(self, case: Case, rid: str, phase: int, findings: list, reading: Reading | None,
               rng: np.random.Generator, discarded: bool) -> dict:
        w, h = case.size
        d = self.base / "main_data" / rid
        vocab = REFLACX_LABELS_PHASE_1 if phase == 1 else REFLACX_LABELS_PHASE_2_3
        mapping = LT_TO_REFLACX_PHASE_1 if phase == 1 else LT_TO_REFLACX
        x0, y0, x1, y1 = case.phantom.box("chest")
        write_csv(d / "chest_bounding_box.csv", pd.DataFrame([{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}]))
        certainty = {f.label: int(rng.integers(3, 6)) for f in findings}
        ell = []
        for f in findings:
            bw, bh = f.box[2] - f.box[0], f.box[3] - f.box[1]
            j = rng.normal(0, 0.04, 4) * np.array([bw, bh, bw, bh])
            row = {"xmin": round(f.box[0] + j[0]), "ymin": round(f.box[1] + j[1]),
                   "xmax": round(f.box[2] + j[2]), "ymax": round(f.box[3] + j[3]), "certainty": certainty[f.label]}
            row.update({c: c == mapping[f.label] for c in vocab})
            ell.append(row)
        write_csv(d / "anomaly_location_ellipses.csv",
                  pd.DataFrame(ell, columns=["xmin", "ymin", "xmax", "ymax", "certainty", *vocab]))
        if reading is not None:
            self._write_gaze(d, rid, case.size, reading, rng)
        sub = case.subject_id
        meta = {"id": rid, "split": case.split, "eye_tracking_data_discarded": discarded,
                "image": f"physionet.org/files/mimic-cxr/2.0.0/files/p{sub[:2]}/p{sub}/s{case.study_id}/{case.dicom_id}.dcm",
                "dicom_id": case.dicom_id, "subject_id": int(sub), "image_size_x": w, "image_size_y": h}
        for c in vocab:
            meta[c] = False if c in REFLACX_BOOLEAN_LABELS else ("" if c == "Other" else 0)
        for f in findings:
            c = mapping[f.label]
            if c is None:
                continue
            if c in REFLACX_BOOLEAN_LABELS:
                meta[c] = True
            elif c == "Other":
                meta[c] = "|".join(filter(None, [meta[c], f.label.lower()]))
            else:
                meta[c] = max(meta[c], certainty[f.label])
        return meta

    def _write_gaze(self, d: Path, rid: str, size: tuple[int, int], reading: Reading, rng) -> None:
        fx = reading.fixations
        shown = display(size, rng)
        fix = pd.DataFrame({
            "timestamp_start_fixation": fx[:, 2], "timestamp_end_fixation": fx[:, 3],
            "x_position": fx[:, 0].astype(int), "y_position": fx[:, 1].astype(int),
            "pupil_area_normalized": rng.uniform(0.6, 1.4, len(fx)), **shown}, columns=FIXATION_COLUMNS)
        write_csv(d / "fixations.csv", fix)
        write_csv(d / "timestamps_transcription.csv",
                  pd.DataFrame(reading.tokens, columns=["word", "timestamp_start_word", "timestamp_end_word"]))
        rio.write_text(d / "transcription.txt", reading.transcription)
        raw = gaze_samples(fx, rng, GAZE_HZ, jitter_px=2.0 * size[0] / 512)
        write_csv(self.base / "gaze_data" / rid / "gaze.csv", pd.DataFrame({
            "timestamp_sample": raw[:, 0], "x_position": raw[:, 1].round().astype(int),
            "y_position": raw[:, 2].round().astype(int),
            "pupil_area_normalized": rng.uniform(0.6, 1.4, len(raw)), **shown}, columns=GAZE_COLUMNS))

    def finish(self) -> None:
        for phase, rows in self.meta.items():
            vocab = REFLACX_LABELS_PHASE_1 if phase == 1 else REFLACX_LABELS_PHASE_2_3
            write_csv(self.base / "main_data" / f"metadata_phase_{phase}.csv",
                      pd.DataFrame(rows, columns=[*META_COLUMNS, *vocab]))
