"""The synthetic cohort: the study's embedded default data, in the real datasets' layouts.

The real data of the paper (MIMIC-CXR, REFLACX, EGD-CXR, CheXpert test, MIMIC-CXR-LT) are
credentialed. This module writes a seeded stand-in with exactly their file layouts and
column names (``../shared/notes/datasets.md``), so the readers in ``radgazegen.data``
that users run on the real releases are the ones the smoke and teach profiles exercise.

What is simulated, per radiograph:

- a phantom (``radgazegen.phantom``) with findings of the MIMIC-CXR-LT classes, labels
  drawn from a long tail like MIMIC-CXR-LT's (every class guaranteed a few images);
- a free-text report (FINDINGS / IMPRESSION) whose sentences name each finding with
  its side and zone, and normal statements for what is absent;
- for the gaze images, a radiologist's reading: a systematic search of the chest, then
  the dictation sentence by sentence; while a finding is dictated, from about 1.5 s
  before its sentence starts until its keyword (``labels.FINDING_KEYWORDS``) has been
  said, the gaze dwells on the finding. REFLACX readings (five readers on the held-out
  multi-reader images, one otherwise; a few with discarded eye tracking), EGD-CXR
  readings (screen coordinates, -1 for gaze off the image), raw gaze samples;
- the ground truth that real data lacks (``ground_truth/``): finding boxes and lung masks.

What it is not: anatomy, pathology or gaze behaviour of real patients and radiologists.
Numbers computed on it prove the wiring (smoke) or test claims against a known truth
(teach); they are not estimates of the paper's numbers.

Units: pixels of the original image (x right, y down), seconds from the start of the
dictation (the audio recording).
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from radgazegen import io as rio
from radgazegen.labels import (
    CHEXPERT_LABELS, CHEXPERT_TEST_COLUMNS, EGD_CHEXPERT_COLUMNS, EGD_CONDITIONS, EGD_FINDINGS,
    LT_CLASS_WEIGHTS, LT_TO_EGD_FINDING, LT_TO_REFLACX, LT_TO_REFLACX_PHASE_1,
    MIMIC_LT_CLASSES, REFLACX_BOOLEAN_LABELS, REFLACX_LABELS_PHASE_1, REFLACX_LABELS_PHASE_2_3,
)
from radgazegen.phantom import Finding, Phantom, render_phantom

log = logging.getLogger(__name__)

SCREEN = (1920, 1080)  # EGD-CXR display, pixels
LT_SPLITS = ("train", "balanced-val", "test", "balanced-test")


@dataclass(frozen=True)
class CohortConfig:
    """Size and make-up of the synthetic cohort (all counts are images unless noted).

    seed: seed of every random draw; the same config writes byte-identical files.
    n_mimic: MIMIC-CXR radiographs; REFLACX, EGD-CXR and MIMIC-CXR-LT reuse them.
    n_chexpert: CheXpert test radiographs (separate patients).
    image_size: (width, height) of every radiograph, pixels.
    egd_fraction: share of the MIMIC images read in EGD-CXR.
    reflacx_fraction: share of the MIMIC images read in REFLACX (multi + single reader).
    reflacx_multi_reader_images: images read by ``readers_per_multi_image`` radiologists
        (REFLACX phases 1-2; the paper's held-out test set, 110 in the real data).
    readers_per_multi_image: radiologists per multi-reader image (5 in REFLACX).
    egd_reflacx_overlap: images in both EGD-CXR and REFLACX's single-reader part.
    reflacx_discarded_readings: single-reader readings flagged eye_tracking_data_discarded.
    lt_balanced_val_per_class, lt_balanced_test_per_class: MIMIC-CXR-LT balanced sets
        (15 and 30 per class in the real release).
    second_finding_probability: chance that an abnormal image has a second finding.
    off_image_gaze_fraction: share of fixations that land off the image.
    jpeg_quality: JPEG quality of the radiographs (OpenCV encoder).
    """

    seed: int = 0
    n_mimic: int = 200
    n_chexpert: int = 40
    image_size: tuple[int, int] = (512, 512)
    egd_fraction: float = 0.35
    reflacx_fraction: float = 0.6
    reflacx_multi_reader_images: int = 6
    readers_per_multi_image: int = 5
    egd_reflacx_overlap: int = 3
    reflacx_discarded_readings: int = 2
    lt_balanced_val_per_class: int = 1
    lt_balanced_test_per_class: int = 1
    second_finding_probability: float = 0.25
    off_image_gaze_fraction: float = 0.03
    jpeg_quality: int = 95

    def __post_init__(self):
        ints = ("seed", "n_mimic", "n_chexpert", "reflacx_multi_reader_images", "readers_per_multi_image",
                "egd_reflacx_overlap", "reflacx_discarded_readings", "lt_balanced_val_per_class",
                "lt_balanced_test_per_class", "jpeg_quality")
        for name in ints:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"CohortConfig.{name}: expected a non-negative int, got {v!r}")
        for name in ("egd_fraction", "reflacx_fraction", "second_finding_probability", "off_image_gaze_fraction"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise ValueError(f"CohortConfig.{name}: expected a number in [0, 1], got {v!r}")
        size = self.image_size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
                or min(size) < 64):
            raise ValueError(f"CohortConfig.image_size: expected (width, height) ints >= 64, got {size!r}")
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        per_class = self.lt_balanced_val_per_class + self.lt_balanced_test_per_class + 1
        if self.n_mimic < per_class * len(MIMIC_LT_CLASSES):
            raise ValueError(
                f"CohortConfig.n_mimic: {self.n_mimic} images cannot give each of the "
                f"{len(MIMIC_LT_CLASSES)} classes {per_class} images (balanced val + test + 1 train); "
                f"use n_mimic >= {per_class * len(MIMIC_LT_CLASSES)}")
        n_ref = round(self.reflacx_fraction * self.n_mimic)
        n_egd = round(self.egd_fraction * self.n_mimic)
        if self.reflacx_multi_reader_images > n_ref:
            raise ValueError("CohortConfig.reflacx_multi_reader_images: more than the REFLACX images "
                             f"({n_ref} = reflacx_fraction * n_mimic)")
        if self.egd_reflacx_overlap > min(n_egd, n_ref - self.reflacx_multi_reader_images):
            raise ValueError("CohortConfig.egd_reflacx_overlap: larger than EGD-CXR or REFLACX single-reader images")
        if n_ref + n_egd - self.egd_reflacx_overlap > self.n_mimic:
            raise ValueError("CohortConfig.egd_fraction / reflacx_fraction: the gaze datasets need more "
                             f"images than n_mimic={self.n_mimic}")
        if self.reflacx_discarded_readings > n_ref - self.reflacx_multi_reader_images:
            raise ValueError("CohortConfig.reflacx_discarded_readings: more than the single-reader readings")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"CohortConfig.jpeg_quality: expected 1..100, got {self.jpeg_quality}")

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d


@dataclass
class CohortSummary:
    """What ``generate_cohort`` wrote: ``counts`` name -> number, and the cohort ``root``."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------ text
_SIDE = {"right": "right", "left": "left", "bilateral": "bilateral", "midline": ""}

_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Lung Opacity": ("There is a hazy opacity in the {side} {zone}.",
                     "Ill-defined opacity is seen in the {side} {zone}."),
    "Cardiomegaly": ("The heart is enlarged, consistent with cardiomegaly.",
                     "Moderate cardiomegaly is present."),
    "Atelectasis": ("Linear atelectasis is seen at the {side} {zone}.",
                    "Plate-like atelectasis in the {side} {zone}."),
    "Pleural Effusion": ("There is a {side} pleural effusion with blunting of the costophrenic angle.",
                         "A small {side} pleural effusion is present."),
    "Support Devices": ("Support devices are in place, the tip projecting over the {zone}.",
                        "A support device projects over the {side} {zone}."),
    "Edema": ("Bilateral perihilar haziness with septal lines, consistent with pulmonary edema.",
              "There is mild pulmonary edema."),
    "Pneumonia": ("Patchy airspace opacities in the {side} {zone}, concerning for pneumonia.",
                  "Multifocal opacities in the {side} {zone} may represent pneumonia."),
    "Pneumothorax": ("There is a {side} apical pneumothorax.",
                     "A small {side} pneumothorax is seen along the {zone}."),
    "Lung Lesion": ("A rounded nodule is seen in the {side} {zone}.",
                    "There is a well-defined mass in the {side} {zone}."),
    "Fracture": ("There is a displaced {side} rib fracture.",
                 "An acute fracture of a {side} rib is noted."),
    "Enlarged Cardiomediastinum": ("The upper mediastinum is widened.",
                                   "There is widening of the mediastinum."),
    "Consolidation": ("Dense consolidation with air bronchograms in the {side} {zone}.",
                      "There is lobar consolidation in the {side} {zone}."),
    "Pleural Other": ("There is {side} pleural thickening along the {zone}.",
                      "Pleural thickening is seen on the {side}."),
    "Calcification of the Aorta": ("There is calcification of the aortic knob.",
                                   "Atherosclerotic calcification of the aorta is noted."),
    "Tortuous Aorta": ("The descending aorta is tortuous.",
                       "The thoracic aorta is tortuous."),
    "Pneumoperitoneum": ("Free air under the {side} hemidiaphragm, consistent with pneumoperitoneum.",
                         "There is pneumoperitoneum beneath the {side} hemidiaphragm."),
    "Subcutaneous Emphysema": ("There is subcutaneous emphysema in the {side} chest wall.",
                               "Subcutaneous emphysema tracks along the {side} {zone}."),
    "Pneumomediastinum": ("Lucent streaks outline the heart border, consistent with pneumomediastinum.",
                          "There is pneumomediastinum."),
}
_IMPRESSION = {
    "Pleural Effusion": "{side} pleural effusion.", "Pneumothorax": "{side} pneumothorax.",
    "Consolidation": "{side} {zone} consolidation.", "Pneumonia": "{side} pneumonia.",
}
#: Statements for findings that are absent (one is drawn per report from the applicable ones).
_NORMAL = {
    "Cardiomegaly": "The heart size is normal.",
    "Pneumothorax": "No pneumothorax.",
    "Pleural Effusion": "No pleural effusion.",
    "Consolidation": "No focal consolidation.",
    "Edema": "No pulmonary edema.",
}


def _sentence(f: Finding, rng: np.random.Generator) -> str:
    text = str(rng.choice(_TEMPLATES[f.label])).format(side=_SIDE.get(f.side, ""), zone=f.zone)
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


def _clean(text: str) -> str:
    text = " ".join(text.split())
    return text[0].upper() + text[1:] if text else text


def _report_sentences(findings: list[Finding], rng: np.random.Generator) -> tuple[list[tuple[str, int]], str]:
    """Dictated sentences [(text, index of the finding it names or -1)] and the impression."""
    sentences = [(_clean(_sentence(f, rng)), i) for i, f in enumerate(findings)]
    absent = [k for k in _NORMAL if k not in {f.label for f in findings}]
    for k in rng.permutation(absent)[: int(rng.integers(1, 3))] if absent else []:
        pos = int(rng.integers(0, len(sentences) + 1))
        sentences.insert(pos, (_NORMAL[str(k)], -1))
    if not findings:
        impression = "No acute cardiopulmonary process."
    else:
        parts = []
        for f in findings:
            tpl = _IMPRESSION.get(f.label, f.label.lower() + ".")
            parts.append(_clean(tpl.format(side=_SIDE.get(f.side, ""), zone=f.zone)))
        impression = " ".join(parts)
    return sentences, impression


def _mimic_report(sentences, impression) -> str:
    findings = " ".join(s for s, _ in sentences)
    return ("                                 FINAL REPORT\n"
            " EXAMINATION:  CHEST (PA AND LAT)\n \n"
            " INDICATION:  ___ with shortness of breath.\n \n"
            " COMPARISON:  None.\n \n"
            f" FINDINGS: \n \n {findings}\n \n"
            f" IMPRESSION: \n \n {impression}\n")


# ------------------------------------------------------------------------------ gaze
@dataclass
class Reading:
    """A simulated reading: fixations (N, 4) x, y, start, end; words [(word, start, end)];
    sentences [(text, start, end)]."""

    fixations: np.ndarray
    words: list[tuple[str, float, float]]
    sentences: list[tuple[str, float, float]]


def _anatomy_points(ph: Phantom, rng: np.random.Generator, names: tuple[str, ...], n: int) -> np.ndarray:
    pts = []
    for _ in range(n):
        ys, xs = np.nonzero(ph.anatomy[str(rng.choice(names))][::4, ::4])
        k = int(rng.integers(len(xs)))
        pts.append((xs[k] * 4.0, ys[k] * 4.0))
    return np.array(pts)


def _simulate_reading(ph: Phantom, sentences_in, impression: str, rng: np.random.Generator,
                      off_image_fraction: float) -> Reading:
    h, w = ph.image.shape
    words, sentences = [], []
    # --- dictation timeline (after a systematic search of 4-8 s)
    search_end = float(rng.uniform(4.0, 8.0))
    t = search_end
    spoken = list(sentences_in)
    if len(ph.findings) == 1:
        spoken.append(("Impression: " + impression, 0))
    windows = []  # (start, end, finding index)
    for text, idx in spoken:
        start = t
        for tok in text.split():
            d = float(rng.uniform(0.25, 0.45)) * (0.6 + 0.08 * len(tok))
            words.append((tok.strip(".,:;").lower(), t, t + d))
            t += d + float(rng.uniform(0.02, 0.08))
        sentences.append((text, start, t))
        if idx >= 0:
            windows.append((start - 1.5, t, idx))
        t += float(rng.uniform(0.3, 0.8))
    total = t
    # --- search path: both lungs top to bottom, heart, mediastinum, diaphragm / angles
    path = []
    for lung in ("right_lung", "left_lung"):
        x0, y0, x1, y1 = ph.box(lung)
        for fy in np.linspace(0.15, 0.9, 4):
            path.append((x0 + (x1 - x0) * rng.uniform(0.3, 0.7), y0 + (y1 - y0) * fy))
    for name in ("heart", "mediastinum"):
        x0, y0, x1, y1 = ph.box(name)
        path.append(((x0 + x1) / 2, (y0 + y1) / 2))
    for lung in ("right_lung", "left_lung"):
        x0, y0, x1, y1 = ph.box(lung)
        path.append((x0 + 0.15 * (x1 - x0) if lung == "right_lung" else x1 - 0.15 * (x1 - x0), y1 - 0.05 * (y1 - y0)))
    path = np.array(path)
    # --- fixations
    fix = []
    t, k = 0.0, 0
    masks = [np.argwhere(f.mask[::2, ::2]) * 2 for f in ph.findings]
    while t < total:
        d = float(rng.uniform(0.15, 0.55))
        active = [i for (a, b, i) in windows if a <= t < b]
        if t < search_end and not active:
            x, y = path[k % len(path)] + rng.normal(0, 0.02 * w, 2)
            k += 1
        elif active and rng.random() < 0.85:
            pts = masks[active[-1]]
            yx = pts[int(rng.integers(len(pts)))] if len(pts) else (h / 2, w / 2)
            x, y = yx[1] + rng.normal(0, 0.01 * w), yx[0] + rng.normal(0, 0.01 * h)
            d = float(rng.uniform(0.25, 0.7))
        else:
            x, y = _anatomy_points(ph, rng, ("right_lung", "left_lung", "heart", "mediastinum"), 1)[0]
        if rng.random() < off_image_fraction:
            x = float(rng.choice([-rng.uniform(5, 60), w + rng.uniform(5, 60)]))
        fix.append((round(float(x)), round(float(y)), t, t + d))
        t += d + float(rng.uniform(0.02, 0.06))
    fixations = np.array(fix, dtype=float).reshape(-1, 4)
    fixations[:, 1] = np.clip(fixations[:, 1], 0, h - 1)
    return Reading(fixations, words, sentences)


def _gaze_samples(fixations: np.ndarray, rng: np.random.Generator, hz: float = 30.0) -> np.ndarray:
    """Raw gaze samples (M, 3): time, x, y at ``hz`` with jitter around each fixation."""
    rows = []
    for x, y, a, b in fixations:
        ts = np.arange(a, b, 1.0 / hz)
        rows.append(np.column_stack([ts, x + rng.normal(0, 2, len(ts)), y + rng.normal(0, 2, len(ts))]))
    return np.concatenate(rows) if rows else np.zeros((0, 3))


# ------------------------------------------------------------------------------ writing
def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.4f").encode()


def _write_csv(path: Path, frame: pd.DataFrame, compress: bool = False) -> None:
    data = _csv(frame)
    rio.write_bytes(path, gzip.compress(data, mtime=0) if compress else data)


def _encode(img: np.ndarray, ext: str, quality: int = 95) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"could not encode {ext}")
    return buf.tobytes()


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(v):08x}" for v in rng.integers(0, 2**32, 5))


def _sample_labels(cfg: CohortConfig, rng: np.random.Generator) -> list[list[str]]:
    """Labels per MIMIC image: long-tailed primary class, every class guaranteed."""
    per_class = cfg.lt_balanced_val_per_class + cfg.lt_balanced_test_per_class + 1
    primary = [c for c in MIMIC_LT_CLASSES for _ in range(per_class)]
    weights = np.array([LT_CLASS_WEIGHTS[c] for c in MIMIC_LT_CLASSES])
    rest = rng.choice(len(MIMIC_LT_CLASSES), size=cfg.n_mimic - len(primary), p=weights / weights.sum())
    primary += [MIMIC_LT_CLASSES[i] for i in rest]
    primary = [primary[i] for i in rng.permutation(len(primary))]
    out = []
    abnormal = [c for c in MIMIC_LT_CLASSES if c != "No Finding"]
    w2 = np.array([LT_CLASS_WEIGHTS[c] for c in abnormal])
    for p in primary:
        labels = [p]
        if p != "No Finding" and rng.random() < cfg.second_finding_probability:
            second = abnormal[int(rng.choice(len(abnormal), p=w2 / w2.sum()))]
            if second != p:
                labels.append(second)
        out.append(labels)
    return out


def generate_cohort(root: str | Path, config: CohortConfig | None = None, progress: bool = True,
                    overwrite: bool = False) -> CohortSummary:
    """Write the synthetic cohort under ``root`` (layout: see the module docstring and datasets.md).

    A folder already holding a cohort of the same config, made by the same generator code,
    is left as it is; one holding another raises unless ``overwrite``. Every file is
    written atomically.
    Returns the counts per dataset and split.
    """
    cfg = config or CohortConfig()
    root = Path(root)
    stamp = root / "ground_truth" / "cohort.json"
    if stamp.exists():
        old = json.loads(stamp.read_text())
        if old.get("config") == cfg.to_json() and old.get("generator") == _generator_digest():
            log.info("cohort at %s already generated with this config", root)
            return CohortSummary(root, old.get("counts", {}))
        if not overwrite:
            raise ValueError(f"{stamp}: a cohort with another config or generator is there; pass overwrite=True "
                             "or choose another folder")
    w, h = cfg.image_size
    master = np.random.default_rng(cfg.seed)
    labels = _sample_labels(cfg, master)
    n = cfg.n_mimic
    subject_ids = master.choice(np.arange(10_000_000, 20_000_000), size=n + cfg.n_chexpert, replace=False)
    study_ids = master.choice(np.arange(50_000_000, 60_000_000), size=n, replace=False)
    dicom_ids = [_dicom_id(master) for _ in range(n)]
    mimic_split = master.choice(["train", "validate", "test"], size=n, p=[0.9, 0.05, 0.05])
    # --- which images each gaze dataset reads
    perm = master.permutation(n)
    n_ref = round(cfg.reflacx_fraction * n)
    n_egd = round(cfg.egd_fraction * n)
    multi = perm[: cfg.reflacx_multi_reader_images]
    single = perm[cfg.reflacx_multi_reader_images: n_ref]
    egd = np.concatenate([single[: cfg.egd_reflacx_overlap],
                          perm[n_ref: n_ref + n_egd - cfg.egd_reflacx_overlap]])
    discarded = set(master.permutation(single)[: cfg.reflacx_discarded_readings].tolist())

    jpg_root, rep_root = root / "mimic-cxr-jpg", root / "mimic-cxr"
    gt = root / "ground_truth"
    meta_rows, chexpert_rows, truth_rows, image_rows = [], [], [], []
    reflacx_meta: dict[int, list[dict]] = {1: [], 2: [], 3: []}
    egd_master, egd_fix, egd_raw, egd_boxes = [], [], [], []
    phantoms_text: dict[int, tuple] = {}
    reading_counter = 0
    multi_set, single_set, egd_set = set(multi.tolist()), set(single.tolist()), set(egd.tolist())
    for i in tqdm(range(n), desc="MIMIC-CXR radiographs", disable=not progress):
        rng = np.random.default_rng([cfg.seed, 1, i])
        ph = render_phantom(labels[i], rng, (w, h))
        sub, stu, did = str(subject_ids[i]), str(study_ids[i]), dicom_ids[i]
        rel = f"files/p{sub[:2]}/p{sub}/s{stu}/{did}.jpg"
        rio.write_bytes(jpg_root / rel, _encode(ph.image, ".jpg", cfg.jpeg_quality))
        sentences, impression = _report_sentences(ph.findings, rng)
        rio.write_text(rep_root / f"files/p{sub[:2]}/p{sub}/s{stu}.txt", _mimic_report(sentences, impression))
        rio.write_bytes(gt / "lung_masks" / f"{did}.png", _encode(ph.lung_mask, ".png"))
        meta_rows.append({
            "dicom_id": did, "subject_id": int(sub), "study_id": int(stu),
            "PerformedProcedureStepDescription": "CHEST (PA AND LAT)", "ViewPosition": "PA",
            "Rows": h, "Columns": w, "StudyDate": 21500101 + int(rng.integers(0, 3000)),
            "StudyTime": round(float(rng.uniform(0, 235959)), 3),
            "ProcedureCodeSequence_CodeMeaning": "CHEST (PA AND LAT)",
            "ViewCodeSequence_CodeMeaning": "postero-anterior",
            "PatientOrientationCodeSequence_CodeMeaning": "Erect",
        })
        present = {f.label for f in ph.findings}
        row = {"subject_id": int(sub), "study_id": int(stu)}
        for c in CHEXPERT_LABELS:
            if c in present:
                row[c] = -1.0 if c == "Pneumonia" and "may represent" in " ".join(s for s, _ in sentences) else 1.0
            elif c == "No Finding":
                row[c] = 1.0 if not present else np.nan
            elif c in _NORMAL and _NORMAL[c] in " ".join(s for s, _ in sentences):
                row[c] = 0.0
            else:
                row[c] = np.nan
        chexpert_rows.append(row)
        for f in ph.findings:
            truth_rows.append({"dicom_id": did, "label": f.label, "side": f.side, "zone": f.zone,
                               "xmin": f.box[0], "ymin": f.box[1], "xmax": f.box[2], "ymax": f.box[3]})
        image_rows.append({"dicom_id": did, "image_path": f"mimic-cxr-jpg/{rel}", "source": "mimic",
                           "labels": "|".join(labels[i]), "width": w, "height": h})
        phantoms_text[i] = (sub, stu, did, rel)
        # --- REFLACX readings
        if i in multi_set or i in single_set:
            readers = cfg.readers_per_multi_image if i in multi_set else 1
            rank = int(np.nonzero(multi == i)[0][0]) if i in multi_set else -1
            phase = (1 if rank < len(multi) / 2 else 2) if i in multi_set else 3
            for r in range(readers):
                reading_counter += 1
                rid = f"P{100 + phase * 10 + r:03d}R{int(rng.integers(100000, 999999)):06d}"
                reading = _simulate_reading(ph, sentences, impression, rng, cfg.off_image_gaze_fraction)
                reflacx_meta[phase].append(_write_reflacx_reading(
                    root / "reflacx", rid, phase, ph, reading, rng, did, sub, stu,
                    str(mimic_split[i]), discarded=(i in discarded and r == 0)))
        # --- EGD-CXR reading
        if i in egd_set:
            reading = _simulate_reading(ph, sentences, impression, rng, cfg.off_image_gaze_fraction)
            _egd_rows(root / "egd-cxr", i, ph, reading, rng, did, sub, stu, sentences, impression,
                      egd_master, egd_fix, egd_raw, egd_boxes)
    # --- MIMIC tables
    _write_csv(jpg_root / "mimic-cxr-2.0.0-metadata.csv.gz", pd.DataFrame(meta_rows), compress=True)
    split_df = pd.DataFrame({"dicom_id": dicom_ids, "study_id": study_ids, "subject_id": subject_ids[:n],
                             "split": mimic_split})
    _write_csv(jpg_root / "mimic-cxr-2.0.0-split.csv.gz", split_df, compress=True)
    chex = pd.DataFrame(chexpert_rows, columns=["subject_id", "study_id", *CHEXPERT_LABELS])
    _write_csv(jpg_root / "mimic-cxr-2.0.0-chexpert.csv.gz", chex, compress=True)
    _write_csv(jpg_root / "mimic-cxr-2.0.0-negbio.csv.gz", chex, compress=True)
    # --- REFLACX metadata
    for phase, rows in reflacx_meta.items():
        vocab = REFLACX_LABELS_PHASE_1 if phase == 1 else REFLACX_LABELS_PHASE_2_3
        cols = ["id", "split", "eye_tracking_data_discarded", "image", "dicom_id", "subject_id",
                "image_size_x", "image_size_y", *vocab]
        _write_csv(root / "reflacx" / "main_data" / f"metadata_phase_{phase}.csv", pd.DataFrame(rows, columns=cols))
    # --- EGD-CXR tables
    egd_dir = root / "egd-cxr"
    master_cols = ["dicom_id", "path", "study_id", "patient_id", "stay_id", "gender", "anchor_age",
                   "image_top_pad", "image_bottom_pad", "image_left_pad", "image_right_pad",
                   *EGD_CONDITIONS, *EGD_FINDINGS, *EGD_CHEXPERT_COLUMNS.values(), "cxr_exam_indication"]
    _write_csv(egd_dir / "master_sheet.csv", pd.DataFrame(egd_master, columns=master_cols))
    _write_csv(egd_dir / "fixations.csv", pd.DataFrame(egd_fix, columns=EGD_GAZE_COLUMNS))
    _write_csv(egd_dir / "eye_gaze.csv", pd.DataFrame(egd_raw, columns=EGD_GAZE_COLUMNS))
    _write_csv(egd_dir / "bounding_boxes.csv", pd.DataFrame(egd_boxes, columns=["dicom_id", "bbox_name", "x1", "x2", "y1", "y2"]))
    # --- MIMIC-CXR-LT
    _write_lt(root / "mimic-cxr-lt", cfg, labels, phantoms_text, master)
    # --- CheXpert test
    _write_chexpert(root / "chexpert", cfg, subject_ids[n:], progress, truth_rows, image_rows)
    # --- ground truth
    _write_csv(gt / "findings.csv", pd.DataFrame(truth_rows, columns=["dicom_id", "label", "side", "zone", "xmin", "ymin", "xmax", "ymax"]))
    _write_csv(gt / "images.csv", pd.DataFrame(image_rows, columns=["dicom_id", "image_path", "source", "labels", "width", "height"]))
    counts = {
        "mimic_cxr_images": n, "chexpert_test_images": cfg.n_chexpert,
        "reflacx_readings": sum(len(v) for v in reflacx_meta.values()),
        "reflacx_multi_reader_images": len(multi), "reflacx_single_reader_images": len(single),
        "reflacx_discarded_readings": len(discarded), "egd_cxr_images": len(egd),
        "egd_reflacx_overlap": cfg.egd_reflacx_overlap, "findings": len(truth_rows),
    }
    rio.write_json(stamp, {"config": cfg.to_json(), "counts": counts, "generator": _generator_digest()})
    return CohortSummary(root, counts)


def _generator_digest() -> str:
    """Hash of the code that draws the cohort (phantoms, text, gaze, vocabularies)."""
    import hashlib

    from radgazegen import labels, phantom

    h = hashlib.sha256()
    for module in (labels, phantom):
        h.update(Path(module.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


EGD_GAZE_COLUMNS = ["SESSION_ID", "MEDIA_ID", "DICOM_ID", "CNT", "Time (in secs)", "TIMETICK(f=10000000)",
                    "FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV", "BPOGX", "BPOGY", "BPOGV",
                    "X_ORIGINAL", "Y_ORIGINAL"]
REFLACX_FIXATION_COLUMNS = [
    "timestamp_start_fixation", "timestamp_end_fixation", "x_position", "y_position", "pupil_area_normalized",
    "angular_resolution_x_pixels_per_degree", "angular_resolution_y_pixels_per_degree", "window_width",
    "window_level", "xmin_shown_from_image", "ymin_shown_from_image", "xmax_shown_from_image",
    "ymax_shown_from_image", "xmin_in_screen_coordinates", "ymin_in_screen_coordinates",
    "xmax_in_screen_coordinates", "ymax_in_screen_coordinates"]


def _write_reflacx_reading(base: Path, rid: str, phase: int, ph: Phantom, reading: Reading,
                           rng: np.random.Generator, did: str, sub: str, stu: str, split: str,
                           discarded: bool) -> dict:
    h, w = ph.image.shape
    d = base / "main_data" / rid
    fx = reading.fixations
    ppd = w / float(rng.uniform(16, 20))  # pixels per degree of visual angle
    scale = min(1080 / h, 1600 / w)
    sx0, sy0 = (1920 - w * scale) / 2, (1080 - h * scale) / 2
    fix = pd.DataFrame({
        "timestamp_start_fixation": fx[:, 2], "timestamp_end_fixation": fx[:, 3],
        "x_position": fx[:, 0].astype(int), "y_position": fx[:, 1].astype(int),
        "pupil_area_normalized": rng.uniform(0.6, 1.4, len(fx)),
        "angular_resolution_x_pixels_per_degree": ppd, "angular_resolution_y_pixels_per_degree": ppd,
        "window_width": 256, "window_level": 128, "xmin_shown_from_image": 0, "ymin_shown_from_image": 0,
        "xmax_shown_from_image": w, "ymax_shown_from_image": h,
        "xmin_in_screen_coordinates": round(sx0), "ymin_in_screen_coordinates": round(sy0),
        "xmax_in_screen_coordinates": round(sx0 + w * scale), "ymax_in_screen_coordinates": round(sy0 + h * scale),
    }, columns=REFLACX_FIXATION_COLUMNS)
    _write_csv(d / "fixations.csv", fix)
    _write_csv(d / "timestamps_transcription.csv",
               pd.DataFrame(reading.words, columns=["word", "timestamp_start_word", "timestamp_end_word"]))
    rio.write_text(d / "transcription.txt", " ".join(s for s, _, _ in reading.sentences))
    x0, y0, x1, y1 = ph.box("chest")
    _write_csv(d / "chest_bounding_box.csv", pd.DataFrame([{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}]))
    vocab = REFLACX_LABELS_PHASE_1 if phase == 1 else REFLACX_LABELS_PHASE_2_3
    mapping = LT_TO_REFLACX_PHASE_1 if phase == 1 else LT_TO_REFLACX
    ell = []
    for f in ph.findings:
        bw, bh = f.box[2] - f.box[0], f.box[3] - f.box[1]
        j = rng.normal(0, 0.04, 4) * np.array([bw, bh, bw, bh])
        row = {"xmin": round(f.box[0] + j[0]), "ymin": round(f.box[1] + j[1]),
               "xmax": round(f.box[2] + j[2]), "ymax": round(f.box[3] + j[3]),
               "certainty": int(rng.integers(3, 6))}
        row.update({c: c == mapping[f.label] for c in vocab})
        ell.append(row)
    _write_csv(d / "anomaly_location_ellipses.csv",
               pd.DataFrame(ell, columns=["xmin", "ymin", "xmax", "ymax", "certainty", *vocab]))
    raw = _gaze_samples(fx, rng)
    _write_csv(base / "gaze_data" / rid / "gaze.csv", pd.DataFrame({
        "timestamp_sample": raw[:, 0], "x_position": raw[:, 1].round().astype(int),
        "y_position": raw[:, 2].round().astype(int)}))
    meta = {"id": rid, "split": split, "eye_tracking_data_discarded": discarded,
            "image": f"physionet.org/files/mimic-cxr/2.0.0/files/p{sub[:2]}/p{sub}/s{stu}/{did}.dcm",
            "dicom_id": did, "subject_id": int(sub), "image_size_x": w, "image_size_y": h}
    for c in vocab:
        meta[c] = False if c in REFLACX_BOOLEAN_LABELS else ("" if c == "Other" else 0)
    for f in ph.findings:
        c = mapping[f.label]
        if c is None:
            continue
        if c in REFLACX_BOOLEAN_LABELS:
            meta[c] = True
        elif c == "Other":
            meta[c] = "|".join(filter(None, [meta[c], f.label.lower()]))
        else:
            meta[c] = max(meta[c], int(rng.integers(3, 6)))
    return meta


def _egd_rows(base: Path, i: int, ph: Phantom, reading: Reading, rng, did, sub, stu, sentences, impression,
              master, fix_rows, raw_rows, box_rows) -> None:
    h, w = ph.image.shape
    padded_w = max(w, round(h * SCREEN[0] / SCREEN[1]))
    padded_h = max(h, round(w * SCREEN[1] / SCREEN[0]))
    left, top = (padded_w - w) // 2, (padded_h - h) // 2
    session, offset = 1 + i % 3, float(rng.uniform(10, 5000))
    fx = reading.fixations

    def rows(x, y, t0, dur, ids, cnt0):
        on = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        fpx, fpy = (x + left) / padded_w, (y + top) / padded_h
        return [[session, i, did, cnt0 + k, round(t0[k], 4), int((offset + t0[k]) * 1e7), round(fpx[k], 5),
                 round(fpy[k], 5), round(offset + t0[k], 4), round(dur[k], 4), int(ids[k]), 1,
                 round(fpx[k], 5), round(fpy[k], 5), 1,
                 int(x[k]) if on[k] else -1, int(y[k]) if on[k] else -1] for k in range(len(x))]

    fix_rows += rows(fx[:, 0], fx[:, 1], fx[:, 2], fx[:, 3] - fx[:, 2], np.arange(len(fx)), 0)
    raw = _gaze_samples(fx, rng)
    ids = np.searchsorted(fx[:, 2], raw[:, 0], side="right") - 1
    raw_rows += rows(raw[:, 1].round(), raw[:, 2].round(), raw[:, 0], np.zeros(len(raw)), ids, 0)
    present = {f.label for f in ph.findings}
    row = {"dicom_id": did, "path": f"files/p{sub[:2]}/p{sub}/s{stu}/{did}.dcm", "study_id": int(stu),
           "patient_id": int(sub), "stay_id": 30000000 + i, "gender": str(rng.choice(["F", "M"])),
           "anchor_age": int(rng.integers(20, 90)), "image_top_pad": top, "image_bottom_pad": padded_h - h - top,
           "image_left_pad": left, "image_right_pad": padded_w - w - left,
           "Normal": int(not present), "CHF": int(bool(present & {"Cardiomegaly", "Edema", "Pleural Effusion"})),
           "pneumonia": int(bool(present & {"Pneumonia", "Consolidation"})),
           "cxr_exam_indication": "___ with shortness of breath"}
    for c in EGD_FINDINGS:
        row[c] = int(any(LT_TO_EGD_FINDING.get(lab) == c for lab in present | ({"No Finding"} if not present else set())))
    for c, col in EGD_CHEXPERT_COLUMNS.items():
        row[col] = 1.0 if c in present or (c == "No Finding" and not present) else np.nan
    master.append(row)
    for name, key in (("Right lung", "right_lung"), ("Left lung", "left_lung"), ("cardiac silhouette", "heart"),
                      ("Mediastinum", "mediastinum"), ("Aortic knob", "aortic_knob")):
        x0, y0, x1, y1 = ph.box(key)
        box_rows.append([did, name, x0, x1, y0, y1])
    tdir = base / "audio_segmentation_transcripts" / did
    phrases = [{"phrase": s, "begin_time": round(a, 3), "end_time": round(b, 3)} for s, a, b in reading.sentences]
    rio.write_json(tdir / "transcript.json", {"full_text": " ".join(p["phrase"] for p in phrases),
                                              "time_stamped_text": phrases})
    for fname, key in (("left_lung.png", "left_lung"), ("right_lung.png", "right_lung"),
                       ("mediastanum.png", "mediastinum"), ("aortic_knob.png", "aortic_knob")):
        rio.write_bytes(tdir / fname, _encode(ph.anatomy[key].astype(np.uint8) * 255, ".png"))


def _write_lt(base: Path, cfg: CohortConfig, labels, ids, rng: np.random.Generator) -> None:
    by_class: dict[str, list[int]] = {c: [] for c in MIMIC_LT_CLASSES}
    for i, labs in enumerate(labels):
        by_class[labs[0]].append(i)
    assign = {}
    for c, idx in by_class.items():
        idx = [idx[k] for k in rng.permutation(len(idx))]
        nv, nt = cfg.lt_balanced_val_per_class, cfg.lt_balanced_test_per_class
        for k, i in enumerate(idx):
            if k < nv:
                assign[i] = "balanced-val"
            elif k < nv + nt:
                assign[i] = "balanced-test"
            elif k == nv + nt:
                assign[i] = "train"
            else:
                assign[i] = "train" if rng.random() < 0.75 else "test"
    for split in LT_SPLITS:
        rows = []
        for i in sorted(k for k, s in assign.items() if s == split):
            sub, stu, did, rel = ids[i]
            row = {"subject_id": int(sub), "study_id": int(stu), "dicom_id": did, "path": rel}
            row.update({c: int(c == labels[i][0]) for c in MIMIC_LT_CLASSES})
            rows.append(row)
        _write_csv(base / f"mimic-cxr-lt_single-label_{split}.csv",
                   pd.DataFrame(rows, columns=["subject_id", "study_id", "dicom_id", "path", *MIMIC_LT_CLASSES]))


def _write_chexpert(base: Path, cfg: CohortConfig, patient_seeds, progress, truth_rows, image_rows) -> None:
    w, h = cfg.image_size
    master = np.random.default_rng([cfg.seed, 2])
    weights = np.array([LT_CLASS_WEIGHTS[c] for c in MIMIC_LT_CLASSES])
    label_rows, report_rows = [], []
    for j in tqdm(range(cfg.n_chexpert), desc="CheXpert test radiographs", disable=not progress):
        rng = np.random.default_rng([cfg.seed, 3, j])
        lab = MIMIC_LT_CLASSES[int(master.choice(len(MIMIC_LT_CLASSES), p=weights / weights.sum()))]
        ph = render_phantom([lab], rng, (w, h))
        path = f"test/patient{64541 + j}/study1/view1_frontal.jpg"
        rio.write_bytes(base / path, _encode(ph.image, ".jpg", cfg.jpeg_quality))
        present = {f.label for f in ph.findings}
        row = {"Path": path}
        row.update({c: 1.0 if (c in present or (c == "No Finding" and not present)) else 0.0
                    for c in CHEXPERT_TEST_COLUMNS})
        label_rows.append(row)
        sentences, impression = _report_sentences(ph.findings, rng)
        report_rows.append({"name": path, "report": " ".join(s for s, _ in sentences) + " " + impression})
        for f in ph.findings:
            truth_rows.append({"dicom_id": path, "label": f.label, "side": f.side, "zone": f.zone,
                               "xmin": f.box[0], "ymin": f.box[1], "xmax": f.box[2], "ymax": f.box[3]})
        image_rows.append({"dicom_id": path, "image_path": f"chexpert/{path}", "source": "chexpert",
                           "labels": lab, "width": w, "height": h})
    _write_csv(base / "test_labels.csv", pd.DataFrame(label_rows, columns=["Path", *CHEXPERT_TEST_COLUMNS]))
    _write_csv(base / "reports.csv", pd.DataFrame(report_rows, columns=["name", "report"]))


# ------------------------------------------------------------------------------ ground truth
def read_ground_truth(root: str | Path) -> pd.DataFrame:
    """The drawn findings: dicom_id, label, side, zone, xmin, ymin, xmax, ymax (pixels, max exclusive)."""
    path = Path(root) / "ground_truth" / "findings.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ground truth (is {root} a synthetic cohort?)")
    return pd.read_csv(path)


def load_lung_mask(root: str | Path, dicom_id: str) -> np.ndarray:
    """(H, W) uint8 lung mask of a MIMIC image: 0 background, 1 patient-right, 2 patient-left lung."""
    path = Path(root) / "ground_truth" / "lung_masks" / f"{dicom_id}.png"
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise FileNotFoundError(f"{path}: missing or unreadable lung mask")
    return mask
