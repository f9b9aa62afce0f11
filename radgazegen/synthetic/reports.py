"""Free-text reports of the cohort: MIMIC-CXR style sentences naming each finding's side and zone.

A ``Dictation`` is what the radiologist says: sentences in order, each naming one finding
(or a normal statement), then the impression. The same dictation is the MIMIC-CXR report
(FINDINGS / IMPRESSION sections), the REFLACX and EGD-CXR transcripts, and what the
CheXpert labeller reads (``chexpert_labels``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radgazegen.core.labels import CHEXPERT_LABELS


@dataclass
class Dictation:
    """sentences: [(text, index of the finding it names in ``Phantom.findings``, or -1)];
    impression: the IMPRESSION text (one or more sentences)."""

    sentences: list[tuple[str, int]]
    impression: str

    @property
    def findings_text(self) -> str:
        """The FINDINGS section as one paragraph."""
        return " ".join(s for s, _ in self.sentences)


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


def _sentence(f, rng: np.random.Generator) -> str:
    text = str(rng.choice(_TEMPLATES[f.label])).format(side=_SIDE.get(f.side, ""), zone=f.zone)
    return " ".join(text.split()).replace(" ,", ",").replace(" .", ".")


def _clean(text: str) -> str:
    text = " ".join(text.split())
    return text[0].upper() + text[1:] if text else text


def draw_dictation(findings: list, rng: np.random.Generator) -> Dictation:
    """The report of a phantom's ``findings`` (``phantom.Finding``): sentences in a drawn order, then the impression."""
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
    return Dictation(sentences, impression)


def mimic_report(d: Dictation) -> str:
    """The MIMIC-CXR report file's text (``files/pXX/p<subject>/s<study>.txt``)."""
    return ("                                 FINAL REPORT\n"
            " EXAMINATION:  CHEST (PA AND LAT)\n \n"
            " INDICATION:  ___ with shortness of breath.\n \n"
            " COMPARISON:  None.\n \n"
            f" FINDINGS: \n \n {d.findings_text}\n \n"
            f" IMPRESSION: \n \n {d.impression}\n")


def chexpert_labels(findings: list, d: Dictation) -> dict[str, float]:
    """What the CheXpert labeller gives for the report: 1 present, -1 uncertain ("may
    represent"), 0 negated (a normal statement), NaN not mentioned; "No Finding" 1 or NaN.

    findings: the phantom's ``Finding`` list (labels in the MIMIC-CXR-LT vocabulary).
    """
    present = {f.label for f in findings}
    text = d.findings_text
    row = {}
    for c in CHEXPERT_LABELS:
        if c in present:
            row[c] = -1.0 if c == "Pneumonia" and "may represent" in text else 1.0
        elif c == "No Finding":
            row[c] = 1.0 if not present else np.nan
        elif c in _NORMAL and _NORMAL[c] in text:
            row[c] = 0.0
        else:
            row[c] = np.nan
    return row
