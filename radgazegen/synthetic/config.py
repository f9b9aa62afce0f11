"""The cohort's configuration (``CohortConfig``), its summary, and one MIMIC image's draw (``Case``).

A ``Case`` is everything drawn once for a MIMIC-CXR radiograph and shared by every dataset
writer that uses the image (MIMIC-CXR-JPG, REFLACX, EGD-CXR, MIMIC-CXR-LT), so that the
datasets agree with each other as the real releases do (EGD-CXR's ``__chx`` columns copy
the MIMIC-CXR CheXpert labels, REFLACX's ``image`` names the MIMIC-CXR DICOM, ...).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radgazegen.core.labels import MIMIC_LT_CLASSES
from radgazegen.synthetic.phantom import Phantom
from radgazegen.synthetic.reports import Dictation

#: Real radiographs' sizes, pixels: MIMIC-CXR-JPG keeps the full DICOM size, about
#: 2500x3000 with varying aspect. Widths and heights of ``real_sizes`` cohorts are drawn here.
REAL_WIDTH_RANGE = (2300, 3050)
REAL_HEIGHT_RANGE = (2500, 3056)


@dataclass(frozen=True)
class CohortConfig:
    """Size and make-up of the synthetic cohort (all counts are images unless noted).

    seed: seed of every random draw; the same config writes byte-identical files.
    n_mimic: MIMIC-CXR radiographs; REFLACX, EGD-CXR and MIMIC-CXR-LT reuse them.
    n_chexpert: CheXpert test radiographs (separate patients).
    image_size: (width, height) of every radiograph, pixels (unless ``real_sizes``).
    real_sizes: draw each radiograph's size like the real releases' (width in
        ``REAL_WIDTH_RANGE``, height in ``REAL_HEIGHT_RANGE``, varying aspect); slow, for tests
        of the readers and maps at real resolution. Default False: ``image_size`` for all.
    egd_fraction: share of the MIMIC images read in EGD-CXR (chosen among its Normal / CHF /
        pneumonia cases; 0.25 keeps the real EGD-CXR : REFLACX ratio of 1,083 : 2,616 images).
    reflacx_fraction: share of the MIMIC images read in REFLACX (multi + single reader).
    reflacx_multi_reader_images: images read by ``readers_per_multi_image`` radiologists
        (REFLACX phases 1-2; the paper's held-out test set, 110 in the real data).
    readers_per_multi_image: radiologists per multi-reader image (5 in REFLACX).
    egd_reflacx_overlap: images in both EGD-CXR and REFLACX's single-reader part.
    reflacx_discarded_readings: multi-reader readings (phases 1-2) flagged eye_tracking_data_discarded,
        at most one per image.
    lt_balanced_val_per_class, lt_balanced_test_per_class: MIMIC-CXR-LT balanced sets
        (15 and 30 per class in the real release).
    second_finding_probability: chance that an abnormal image has a second finding.
    off_image_gaze_fraction: share of fixations that land off the image.
    jpeg_quality: JPEG quality of the radiographs (OpenCV encoder).
    focal_boost: factor on the long-tail weights of the focal lung findings (``FOCAL_FINDINGS``:
        Lung Opacity, Consolidation, Lung Lesion) when the cohort's primary labels are drawn; 1
        keeps MIMIC-CXR-LT's tail. The lesson profile raises it so that enough held-out findings
        sit in one lung, at a side and zone drawn uniformly, for the gaze test (issue 25).
    lesion_scale: factor on the size of the focal findings' drawn extent (opacity spread,
        consolidation and lesion radii); 1 draws them as MIMIC-sized radiographs show them,
        larger keeps them visible at the 64 px the lesson's models see.
    """

    seed: int = 0
    n_mimic: int = 200
    n_chexpert: int = 40
    image_size: tuple[int, int] = (512, 512)
    real_sizes: bool = False
    egd_fraction: float = 0.25
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
    focal_boost: float = 1.0
    lesion_scale: float = 1.0

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
        if self.reflacx_discarded_readings > self.reflacx_multi_reader_images:
            raise ValueError("CohortConfig.reflacx_discarded_readings: discarded readings occur in phases 1-2 only, "
                             "at most one per multi-reader image; more than reflacx_multi_reader_images")
        if self.n_chexpert > 500:
            raise ValueError(f"CohortConfig.n_chexpert: the CheXpert test set has 500 patients, got {self.n_chexpert}")
        for name in ("focal_boost", "lesion_scale"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 100:
                raise ValueError(f"CohortConfig.{name}: expected a positive number (1 = the default cohort), got {v!r}")
        if not isinstance(self.real_sizes, bool):
            raise ValueError(f"CohortConfig.real_sizes: expected true or false, got {self.real_sizes!r}")
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



@dataclass
class Case:
    """One MIMIC-CXR radiograph as drawn for the cohort (shared by the dataset writers).

    index: position among the MIMIC images (0..n_mimic-1); rng: its own generator (child of
    the seed), used by every writer in a fixed order. labels: MIMIC-CXR-LT classes (first =
    the single label of MIMIC-CXR-LT). phantom: the rendered image and its ground truth.
    dictation: the report's sentences. chexpert: the CheXpert labeller's output for the
    report (1 / 0 / -1 / NaN per observation). split: MIMIC-CXR's official split.
    """

    index: int
    rng: np.random.Generator
    labels: list[str]
    subject_id: str
    study_id: str
    dicom_id: str
    split: str
    phantom: Phantom
    dictation: Dictation
    chexpert: dict[str, float] = field(default_factory=dict)

    @property
    def jpg_path(self) -> str:
        """Path of the JPG under the MIMIC-CXR-JPG root: ``files/pXX/p<subject>/s<study>/<dicom>.jpg``."""
        s = self.subject_id
        return f"files/p{s[:2]}/p{s}/s{self.study_id}/{self.dicom_id}.jpg"

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the radiograph, pixels."""
        h, w = self.phantom.image.shape
        return w, h
