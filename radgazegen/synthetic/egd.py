"""EGD-CXR ("Eye Gaze Data for Chest X-rays"): one radiologist's gaze and dictation on MIMIC-CXR images.

Conventions of the real release (``cxr-eye-gaze/eye-gaze-dataset``; read by ``data.read_egd_cxr``):

- The image was shown fitted, aspect kept, on a 1920x1080 screen;
  ``image_{top,bottom,left,right}_pad`` in ``master_sheet.csv`` are the SCREEN pixels around it.
- ``fixations.csv`` / ``eye_gaze.csv``: FPOGX / FPOGY are fractions of the screen ((0, 0)
  top-left); ``X_ORIGINAL = int(W / (1920 - left - right) * (FPOGX * 1920 - left))``
  (``Y_ORIGINAL`` likewise with H, top, bottom, 1080), truncated, and -1 for gaze outside
  the shown image. "Time (in secs)" counts from the start of the case (its audio);
  FPOGS from the start of the session; FPOGD is the fixation's duration (s).
- ``master_sheet.csv``: each image belongs to exactly one of the conditions Normal / CHF /
  pneumonia; diagnoses ``dx1..dx9`` with ICD-10 codes ``dx1_icd..dx9_icd`` (blank when
  fewer); ``normal_reports``; ``anchor_age`` as a range string ("60 - 70"); the ``__chx``
  columns copy the image's MIMIC-CXR CheXpert labels (1 / 0 / -1 / blank alike).
- ``audio_segmentation_transcripts/<dicom_id>/transcript.json``: ``full_text`` and
  word-level speech-to-text ``time_stamped_text`` (mostly one word per phrase, punctuation
  attached to the word, each with begin_time / end_time), plus anatomy masks
  (``left_lung.png``, ``right_lung.png``, ``mediastanum.png`` [sic], ``aortic_knob.png``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radgazegen.core import io as rio
from radgazegen.core.labels import EGD_CHEXPERT_COLUMNS, EGD_CONDITIONS, EGD_FINDINGS, LT_TO_EGD_FINDING
from radgazegen.synthetic.config import Case
from radgazegen.synthetic.files import encode, label_text, write_csv
from radgazegen.synthetic.reading import Reading, gaze_samples, simulate_reading

SCREEN = (1920, 1080)  # EGD-CXR display, pixels
GAZE_COLUMNS = ["SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)",
                "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV",
                "X_ORIGINAL", "Y_ORIGINAL"]
DX_COLUMNS = [f"dx{k}" for k in range(1, 10)] + [f"dx{k}_icd" for k in range(1, 10)]
MASTER_COLUMNS = ["dicom_id", "path", "study_id", "patient_id", "stay_id", "gender", "anchor_age",
                  "image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad",
                  *EGD_CONDITIONS, *DX_COLUMNS, *EGD_FINDINGS, "normal_reports",
                  *EGD_CHEXPERT_COLUMNS.values(), "cxr_exam_indication"]
#: Findings that make an image a CHF or a pneumonia case (MIMIC-CXR-LT names).
CHF_FINDINGS = {"Cardiomegaly", "Edema", "Pleural Effusion"}
PNEUMONIA_FINDINGS = {"Pneumonia", "Consolidation"}
#: Diagnoses (ICD-10) of the stay: the condition's own, then others drawn from these.
CONDITION_DX = {"CHF": ("Congestive heart failure, unspecified", "I50.9"),
                "pneumonia": ("Pneumonia, unspecified organism", "J18.9")}
OTHER_DX = (("Essential (primary) hypertension", "I10"), ("Type 2 diabetes mellitus without complications", "E11.9"),
            ("Hyperlipidemia, unspecified", "E78.5"), ("Unspecified atrial fibrillation", "I48.91"),
            ("Acute kidney failure, unspecified", "N17.9"), ("Chest pain, unspecified", "R07.9"),
            ("Shortness of breath", "R06.02"), ("Chronic obstructive pulmonary disease, unspecified", "J44.9"))


def condition(labels) -> str | None:
    """The EGD-CXR condition of an image with these MIMIC-CXR-LT labels, or None if it fits none
    (EGD-CXR chose its images among normal, CHF and pneumonia cases)."""
    present = set(labels) - {"No Finding"}
    if not present:
        return "Normal"
    if present & PNEUMONIA_FINDINGS:
        return "pneumonia"
    if present <= CHF_FINDINGS | {"Support Devices"} and present & CHF_FINDINGS:
        return "CHF"
    return None


def padding(size: tuple[int, int]) -> dict[str, int]:
    """Screen pixels around the image shown fitted (aspect kept) on the 1920x1080 screen."""
    w, h = size
    s = min(SCREEN[0] / w, SCREEN[1] / h)
    shown_w, shown_h = round(w * s), round(h * s)
    left, top = (SCREEN[0] - shown_w) // 2, (SCREEN[1] - shown_h) // 2
    return {"top": top, "bottom": SCREEN[1] - shown_h - top, "left": left, "right": SCREEN[0] - shown_w - left}


def to_screen(x: np.ndarray, y: np.ndarray, size: tuple[int, int], pads: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image pixels -> FPOGX, FPOGY (fractions of the screen, 5 decimals as written)."""
    w, h = size
    sx = (SCREEN[0] - pads["left"] - pads["right"]) / w
    sy = (SCREEN[1] - pads["top"] - pads["bottom"]) / h
    def written(v: np.ndarray) -> np.ndarray:  # the value a reader parses back from the 5-decimal text
        return np.array([float(f"{e:.5f}") for e in v])

    return written((x * sx + pads["left"]) / SCREEN[0]), written((y * sy + pads["top"]) / SCREEN[1])


def to_original(fpogx: np.ndarray, fpogy: np.ndarray, size: tuple[int, int], pads: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The release's mapping: FPOGX, FPOGY -> X_ORIGINAL, Y_ORIGINAL (int, truncated; -1 off the shown image)."""
    w, h = size
    left, right, top, bottom = pads["left"], pads["right"], pads["top"], pads["bottom"]
    px, py = np.asarray(fpogx) * SCREEN[0], np.asarray(fpogy) * SCREEN[1]
    inside = (px >= left) & (px < SCREEN[0] - right) & (py >= top) & (py < SCREEN[1] - bottom)
    xo = (w / (SCREEN[0] - left - right) * (px - left)).astype(int)
    yo = (h / (SCREEN[1] - top - bottom) * (py - top)).astype(int)
    inside &= (xo >= 0) & (xo < w) & (yo >= 0) & (yo < h)
    return np.where(inside, xo, -1), np.where(inside, yo, -1)


def phrases(reading: Reading, rng: np.random.Generator) -> list[dict]:
    """Word-level speech-to-text phrases: one word each (two words in about 1 of 10), with
    "." / "," attached to the word before, each with begin_time / end_time (s)."""
    words: list[list] = []
    for tok, a, b in reading.tokens:
        if tok in (".", ",") and words:
            words[-1][0] += tok
        else:
            words.append([tok, a, b])
    out, k = [], 0
    while k < len(words):
        n = 2 if k + 1 < len(words) and rng.random() < 0.1 and not words[k][0].endswith((".", ",")) else 1
        group = words[k: k + n]
        out.append({"phrase": " ".join(g[0] for g in group), "begin_time": round(group[0][1], 3),
                    "end_time": round(group[-1][2], 3)})
        k += n
    return out


class EgdWriter:
    """Writes each case's transcript folder as it comes (``add``), the tables at the end (``finish``)."""

    def __init__(self, root: Path, off_image_fraction: float):
        self.base = root / "egd-cxr"
        self.off_image = off_image_fraction
        self.master, self.fixations, self.gaze, self.boxes = [], [], [], []

    def add(self, case: Case) -> None:
        cond = condition(case.labels)
        if cond is None:
            raise ValueError(f"EGD-CXR: image {case.dicom_id} with {case.labels} is no Normal / CHF / pneumonia case")
        rng, ph = case.rng, case.phantom
        reading = simulate_reading(ph, case.dictation, list(ph.findings), rng, self.off_image)
        pads = padding(case.size)
        session, offset = 1 + case.index % 3, float(rng.uniform(10, 5000))
        fx = reading.fixations
        self.fixations += self._rows(case, session, offset, pads, fx[:, 0], fx[:, 1], fx[:, 2], fx[:, 3] - fx[:, 2],
                                     np.arange(len(fx)))
        raw = gaze_samples(fx, rng, jitter_px=2.0 * case.size[0] / 512)
        ids = np.searchsorted(fx[:, 2], raw[:, 0], side="right") - 1
        self.gaze += self._rows(case, session, offset, pads, raw[:, 1], raw[:, 2], raw[:, 0], np.zeros(len(raw)), ids)
        self.master.append(self._master_row(case, cond, pads, rng))
        for name, key in (("Right lung", "right_lung"), ("Left lung", "left_lung"), ("cardiac silhouette", "heart"),
                          ("Mediastinum", "mediastinum"), ("Aortic knob", "aortic_knob")):
            x0, y0, x1, y1 = ph.box(key)
            self.boxes.append([case.dicom_id, name, x0, x1, y0, y1])
        tdir = self.base / "audio_segmentation_transcripts" / case.dicom_id
        words = phrases(reading, rng)
        rio.write_json(tdir / "transcript.json", {"full_text": " ".join(p["phrase"] for p in words),
                                                  "time_stamped_text": words})
        for fname, key in (("left_lung.png", "left_lung"), ("right_lung.png", "right_lung"),
                           ("mediastanum.png", "mediastinum"), ("aortic_knob.png", "aortic_knob")):
            rio.write_bytes(tdir / fname, encode(ph.anatomy[key].astype(np.uint8) * 255, ".png"))

    def _rows(self, case, session, offset, pads, x, y, t0, dur, ids) -> list[list]:
        fpx, fpy = to_screen(np.asarray(x, float), np.asarray(y, float), case.size, pads)
        xo, yo = to_original(fpx, fpy, case.size, pads)
        return [[session, case.index, case.dicom_id, k, round(t0[k], 4), int((offset + t0[k]) * 1e7), f"{fpx[k]:.5f}",
                 f"{fpy[k]:.5f}", round(offset + t0[k], 4), round(dur[k], 4), int(ids[k]), 1, f"{fpx[k]:.5f}",
                 f"{fpy[k]:.5f}", 1, int(xo[k]), int(yo[k])]
                for k in range(len(fpx))]

    def _master_row(self, case: Case, cond: str, pads: dict[str, int], rng) -> dict:
        sub, present = case.subject_id, set(case.labels) - {"No Finding"}
        decade = int(rng.integers(2, 9)) * 10
        row = {"dicom_id": case.dicom_id, "path": f"files/p{sub[:2]}/p{sub}/s{case.study_id}/{case.dicom_id}.dcm",
               "study_id": int(case.study_id), "patient_id": int(sub), "stay_id": 30000000 + case.index,
               "gender": str(rng.choice(["F", "M"])), "anchor_age": f"{decade} - {decade + 10}",
               **{f"image_{k}_pad": v for k, v in pads.items()},
               **{c: int(c == cond) for c in EGD_CONDITIONS},
               "normal_reports": int(cond == "Normal"), "cxr_exam_indication": "___ with shortness of breath"}
        dx = [CONDITION_DX[cond]] if cond in CONDITION_DX else []
        dx += [OTHER_DX[k] for k in rng.permutation(len(OTHER_DX))[: int(rng.integers(0, 5))]]
        for k in range(9):
            row[f"dx{k + 1}"], row[f"dx{k + 1}_icd"] = dx[k] if k < len(dx) else ("", "")
        for c in EGD_FINDINGS:
            row[c] = int(any(LT_TO_EGD_FINDING.get(lab) == c for lab in (present or {"No Finding"})))
        for c, col in EGD_CHEXPERT_COLUMNS.items():
            row[col] = label_text(case.chexpert.get(c, np.nan))
        return row

    def finish(self) -> None:
        write_csv(self.base / "master_sheet.csv", pd.DataFrame(self.master, columns=MASTER_COLUMNS))
        write_csv(self.base / "fixations.csv", pd.DataFrame(self.fixations, columns=GAZE_COLUMNS))
        write_csv(self.base / "eye_gaze.csv", pd.DataFrame(self.gaze, columns=GAZE_COLUMNS))
        write_csv(self.base / "bounding_boxes.csv",
                  pd.DataFrame(self.boxes, columns=["dicom_id", "bbox_name", "x1", "x2", "y1", "y2"]))
