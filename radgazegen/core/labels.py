"""Label vocabularies of the datasets the study reads, and how they map onto each other.

The study's own finding names are the 19 MIMIC-CXR-LT classes (``MIMIC_LT_CLASSES``);
every other vocabulary is mapped from them. Sources: the datasets' public documentation
(see ``../shared/notes/datasets.md``) and the authors' code (medium / tail lists, §4.2.3).
"""
from __future__ import annotations

import re
from typing import Sequence

#: The 19 MIMIC-CXR-LT (2022) classes, in the study's order (head to tail). The label files
#: order their columns differently: ``MIMIC_LT_FILE_COLUMNS``.
MIMIC_LT_CLASSES: tuple[str, ...] = (
    "No Finding", "Lung Opacity", "Cardiomegaly", "Atelectasis", "Pleural Effusion",
    "Support Devices", "Edema", "Pneumonia", "Pneumothorax", "Lung Lesion", "Fracture",
    "Enlarged Cardiomediastinum", "Consolidation", "Pleural Other",
    "Calcification of the Aorta", "Tortuous Aorta", "Pneumoperitoneum",
    "Subcutaneous Emphysema", "Pneumomediastinum",
)

#: The paper's augmentation targets (authors' code): medium and tail classes of MIMIC-CXR-LT.
LT_MEDIUM: tuple[str, ...] = (
    "Tortuous Aorta", "Calcification of the Aorta", "Pleural Other", "Consolidation",
    "Enlarged Cardiomediastinum", "Fracture",
)
LT_TAIL: tuple[str, ...] = ("Pneumomediastinum", "Subcutaneous Emphysema", "Pneumoperitoneum")
LT_HEAD: tuple[str, ...] = tuple(c for c in MIMIC_LT_CLASSES if c not in LT_MEDIUM + LT_TAIL)

#: Relative class frequencies used by the synthetic cohort: a long tail shaped like
#: MIMIC-CXR-LT's training set (head classes thousands of times more frequent than the
#: tail). The shape is what matters; these are not the real counts.
LT_CLASS_WEIGHTS: dict[str, float] = {
    "No Finding": 0.200, "Lung Opacity": 0.110, "Cardiomegaly": 0.095,
    "Atelectasis": 0.090, "Pleural Effusion": 0.090, "Support Devices": 0.085,
    "Edema": 0.070, "Pneumonia": 0.055, "Pneumothorax": 0.045, "Lung Lesion": 0.035,
    "Fracture": 0.026, "Enlarged Cardiomediastinum": 0.024, "Consolidation": 0.022,
    "Pleural Other": 0.016, "Calcification of the Aorta": 0.013, "Tortuous Aorta": 0.011,
    "Pneumoperitoneum": 0.0055, "Subcutaneous Emphysema": 0.0050, "Pneumomediastinum": 0.0035,
}

#: The focal lung findings: drawn as one blob in one lung, at a side and zone drawn uniformly (the
#: cohort's ``lesions.draw_finding``), so a gaze can be mirrored to the other lung (chapter 13).
FOCAL_FINDINGS: tuple[str, ...] = ("Lung Opacity", "Consolidation", "Lung Lesion")

#: The 14 CheXpert observations (CheXpert test_labels.csv and mimic-cxr-2.0.0-chexpert.csv).
CHEXPERT_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion",
    "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices",
)

#: Label columns of the MIMIC-CXR-LT files, in their order (after subject_id, study_id,
#: dicom_id, path): the 14 CheXpert labels alphabetically, then the five added classes.
MIMIC_LT_FILE_COLUMNS: tuple[str, ...] = (
    *CHEXPERT_LABELS, "Pneumoperitoneum", "Pneumomediastinum", "Subcutaneous Emphysema",
    "Tortuous Aorta", "Calcification of the Aorta",
)
assert sorted(MIMIC_LT_FILE_COLUMNS) == sorted(MIMIC_LT_CLASSES)

#: MIMIC-CXR-LT class -> CheXpert observation (None: no CheXpert column).
LT_TO_CHEXPERT: dict[str, str | None] = {c: (c if c in CHEXPERT_LABELS else None) for c in MIMIC_LT_CLASSES}

#: REFLACX label columns, phases 2 and 3 (certainty 1-5; the last two are booleans).
REFLACX_LABELS_PHASE_2_3: tuple[str, ...] = (
    "Support devices", "Abnormal mediastinal contour", "Enlarged cardiac silhouette",
    "Enlarged hilum", "Hiatal hernia", "Pneumothorax", "Pleural abnormality",
    "Consolidation", "Groundglass opacity", "Atelectasis", "Lung nodule or mass",
    "Pulmonary edema", "High lung volume / emphysema", "Interstitial lung disease",
    "Acute fracture", "Other", "Quality issue",
)
#: REFLACX label columns, phase 1.
REFLACX_LABELS_PHASE_1: tuple[str, ...] = (
    "Airway wall thickening", "Atelectasis", "Consolidation", "Emphysema",
    "Enlarged cardiac silhouette", "Fibrosis", "Fracture", "Groundglass opacity", "Mass",
    "Nodule", "Pleural effusion", "Pleural thickening", "Pneumothorax", "Pulmonary edema",
    "Wide mediastinum", "Other", "Support devices", "Quality issue",
)
#: REFLACX columns that are booleans rather than certainty scores.
REFLACX_BOOLEAN_LABELS: tuple[str, ...] = ("Support devices", "Quality issue")

#: MIMIC-CXR-LT class -> REFLACX label, phases 2-3 and phase 1 ("Other" carries free text).
LT_TO_REFLACX: dict[str, str | None] = {
    "No Finding": None, "Lung Opacity": "Groundglass opacity",
    "Cardiomegaly": "Enlarged cardiac silhouette", "Atelectasis": "Atelectasis",
    "Pleural Effusion": "Pleural abnormality", "Support Devices": "Support devices",
    "Edema": "Pulmonary edema", "Pneumonia": "Consolidation", "Pneumothorax": "Pneumothorax",
    "Lung Lesion": "Lung nodule or mass", "Fracture": "Acute fracture",
    "Enlarged Cardiomediastinum": "Abnormal mediastinal contour",
    "Consolidation": "Consolidation", "Pleural Other": "Pleural abnormality",
    "Calcification of the Aorta": "Other", "Tortuous Aorta": "Other",
    "Pneumoperitoneum": "Other", "Subcutaneous Emphysema": "Other", "Pneumomediastinum": "Other",
}
LT_TO_REFLACX_PHASE_1: dict[str, str | None] = {
    **LT_TO_REFLACX, "Pleural Effusion": "Pleural effusion", "Lung Lesion": "Nodule",
    "Fracture": "Fracture", "Enlarged Cardiomediastinum": "Wide mediastinum",
    "Pleural Other": "Pleural thickening",
}

#: EGD-CXR master_sheet.csv: the three condition labels, the radiologist findings,
#: and CheXpert labels (column = lower-cased name with spaces as "_", suffixed "__chx").
EGD_CONDITIONS: tuple[str, ...] = ("Normal", "CHF", "pneumonia")
EGD_FINDINGS: tuple[str, ...] = (
    "consolidation", "enlarged_cardiac_silhouette", "linear__patchy_atelectasis",
    "lobar__segmental_collapse", "not_otherwise_specified_opacity___pleural__parenchymal_opacity__",
    "pleural_effusion_or_thickening", "pulmonary_edema__hazy_opacity", "normal_anatomically",
    "elevated_hemidiaphragm", "hyperaeration", "vascular_redistribution",
)
EGD_CHEXPERT_COLUMNS: dict[str, str] = {
    c: c.lower().replace(" ", "_") + "__chx" for c in CHEXPERT_LABELS
}
LT_TO_EGD_FINDING: dict[str, str | None] = {
    "Lung Opacity": "not_otherwise_specified_opacity___pleural__parenchymal_opacity__",
    "Cardiomegaly": "enlarged_cardiac_silhouette", "Atelectasis": "linear__patchy_atelectasis",
    "Pleural Effusion": "pleural_effusion_or_thickening", "Edema": "pulmonary_edema__hazy_opacity",
    "Pneumonia": "consolidation", "Consolidation": "consolidation",
    "Pleural Other": "pleural_effusion_or_thickening", "No Finding": "normal_anatomically",
}


class UnknownLabelError(ValueError):
    """A label name that is in none of the study's vocabularies."""


def check_label(name: str, vocabulary: tuple[str, ...] = MIMIC_LT_CLASSES, where: str = "") -> str:
    """Return ``name`` if it is in ``vocabulary``; else raise naming the file / field ``where``."""
    if name not in vocabulary:
        raise UnknownLabelError(
            f"{where + ': ' if where else ''}unknown label {name!r}; expected one of {list(vocabulary)}"
        )
    return name


#: Column order of CheXpert's test_labels.csv (after "Path").
CHEXPERT_TEST_COLUMNS: tuple[str, ...] = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)

#: Words that name each finding in a dictation (lower case). The per-finding HVA map V^m
#: (§3.2.2) keeps the fixations from 1.5 s before the sentence naming the finding until
#: the last time one of these words is said.
FINDING_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Lung Opacity": ("opacity",), "Cardiomegaly": ("cardiomegaly",),
    "Atelectasis": ("atelectasis",), "Pleural Effusion": ("effusion",),
    "Support Devices": ("device", "devices"), "Edema": ("edema",), "Pneumonia": ("pneumonia",),
    "Pneumothorax": ("pneumothorax",), "Lung Lesion": ("nodule", "mass"), "Fracture": ("fracture",),
    "Enlarged Cardiomediastinum": ("mediastinum",), "Consolidation": ("consolidation",),
    "Pleural Other": ("thickening",), "Calcification of the Aorta": ("calcification",),
    "Tortuous Aorta": ("tortuous",), "Pneumoperitoneum": ("pneumoperitoneum",),
    "Subcutaneous Emphysema": ("emphysema",), "Pneumomediastinum": ("pneumomediastinum",),
}

#: Table 3's 12 pathology columns (paper's abbreviations) -> CheXpert observation, and the
#: TorchXRayVision output the paper's classifier gives for it.
TABLE3_PATHOLOGIES: tuple[tuple[str, str, str], ...] = (
    ("Ate.", "Atelectasis", "Atelectasis"), ("Cmg.", "Cardiomegaly", "Cardiomegaly"),
    ("Cns.", "Consolidation", "Consolidation"), ("Edm.", "Edema", "Edema"),
    ("Les.", "Lung Lesion", "Lung Lesion"), ("Opa.", "Lung Opacity", "Lung Opacity"),
    ("Eff.", "Pleural Effusion", "Effusion"), ("PTh", "Pleural Other", "Pleural_Thickening"),
    ("Pne.", "Pneumonia", "Pneumonia"), ("PTX", "Pneumothorax", "Pneumothorax"),
    ("Fra.", "Fracture", "Fracture"), ("Enl.", "Enlarged Cardiomediastinum", "Enlarged Cardiomediastinum"),
)


#: Words that name a place in the cohort's reports (sides, zones, anatomical landmarks).
LOCATION_WORDS = (
    "superior vena cava", "chest wall", "aortic knob", "heart border",  # phrases first
    "left", "right", "bilateral", "bilaterally", "upper", "middle", "lower", "zone", "zones", "lobe", "lobes",
    "apical", "apex", "apices", "basal", "base", "bases", "basilar", "perihilar", "hilar", "retrocardiac",
    "lateral", "medial", "costophrenic", "angle", "hemidiaphragm", "hemithorax", "lingula", "lingular",
)
_PLACE = re.compile(r"\b(" + "|".join(LOCATION_WORDS) + r")\b", re.IGNORECASE)
#: A preposition and article left dangling once the place words are gone ("seen in the.").
_DANGLING = re.compile(r"\s*\b(in|at|along|over|of|beneath|under|on|to|with)\s+(the|a)?\s*(?=[.,;]|$)", re.IGNORECASE)


def strip_location(text: str) -> str:
    """``text`` with the place words removed and the prepositions they leave dangling."""
    out = _PLACE.sub("", text)
    for _ in range(3):
        out = _DANGLING.sub("", out)
    out = re.sub(r"\s+([.,;])", r"\1", " ".join(out.split()))
    out = re.sub(r"\b(the|a|an)\s+(?=[.,;])", "", out)
    return re.sub(r"\s+([.,;])", r"\1", out).strip()


def location_free_prompt(report: str, keywords: Sequence[str], fallback: str) -> str:
    """The report's sentences that name the finding (one of ``keywords``, case-insensitive), place
    words removed (``strip_location``); ``fallback`` (e.g. the finding's name) when none names it."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", report) if s.strip()]
    keys = [k.lower() for k in keywords]
    kept = [strip_location(s) for s in sentences if any(k in s.lower() for k in keys)]
    kept = [s for s in kept if s.strip(" .")]
    return " ".join(dict.fromkeys(kept)) if kept else fallback
