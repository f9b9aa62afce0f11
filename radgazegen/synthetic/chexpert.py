"""CheXpert test set: radiographs of separate patients, their labels, and the reports used as prompts.

Layout of the real release: ``test/patient<id>/study1/view1_frontal.jpg`` with patient ids
64741-65240 (the 500 test patients; 64541-64740 are the validation set) and
``test_labels.csv`` (Path + the 14 observations in CheXpert's column order, written as the
maintainers' label files write them: integers 0 / 1). The paper prompts with reports that
a report generator wrote for these images; the study reads them from ``reports.csv``
(name, report), which the cohort writes from each image's own findings.
Read by ``data.read_chexpert``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from radgazegen.core.progress import tqdm

from radgazegen.core import io as rio
from radgazegen.core.labels import CHEXPERT_TEST_COLUMNS, LT_CLASS_WEIGHTS, MIMIC_LT_CLASSES
from radgazegen.synthetic.files import encode, write_csv
from radgazegen.synthetic.phantom import render_phantom
from radgazegen.synthetic.reports import draw_dictation

#: The CheXpert test patients' ids (500 patients).
FIRST_TEST_PATIENT, LAST_TEST_PATIENT = 64741, 65240


def write_chexpert(root: Path, cfg, image_size, progress: bool, truth_rows: list, image_rows: list) -> None:
    """Render ``cfg.n_chexpert`` test radiographs (one class each, long-tailed) and write the files.

    image_size: callable j -> (width, height) of the j-th radiograph. Appends each image's
    findings to ``truth_rows`` and its row to ``image_rows`` (the cohort's ground truth).
    """
    base = root / "chexpert"
    master = np.random.default_rng([cfg.seed, 2])
    weights = np.array([LT_CLASS_WEIGHTS[c] for c in MIMIC_LT_CLASSES])
    label_rows, report_rows = [], []
    for j in tqdm(range(cfg.n_chexpert), desc="CheXpert test radiographs", disable=not progress):
        rng = np.random.default_rng([cfg.seed, 3, j])
        lab = MIMIC_LT_CLASSES[int(master.choice(len(MIMIC_LT_CLASSES), p=weights / weights.sum()))]
        w, h = image_size(j)
        ph = render_phantom([lab], rng, (w, h))
        path = f"test/patient{FIRST_TEST_PATIENT + j}/study1/view1_frontal.jpg"
        rio.write_bytes(base / path, encode(ph.image, ".jpg", cfg.jpeg_quality))
        present = {f.label for f in ph.findings}
        label_rows.append({"Path": path, **{c: int(c in present or (c == "No Finding" and not present))
                                            for c in CHEXPERT_TEST_COLUMNS}})
        d = draw_dictation(ph.findings, rng)
        report_rows.append({"name": path, "report": d.findings_text + " " + d.impression})
        for f in ph.findings:
            truth_rows.append({"dicom_id": path, "label": f.label, "side": f.side, "zone": f.zone,
                               "xmin": f.box[0], "ymin": f.box[1], "xmax": f.box[2], "ymax": f.box[3]})
        image_rows.append({"dicom_id": path, "image_path": f"chexpert/{path}", "source": "chexpert",
                           "labels": lab, "width": w, "height": h})
    write_csv(base / "test_labels.csv", pd.DataFrame(label_rows, columns=["Path", *CHEXPERT_TEST_COLUMNS]))
    write_csv(base / "reports.csv", pd.DataFrame(report_rows, columns=["name", "report"]))
