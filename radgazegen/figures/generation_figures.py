"""Figures of the generation chapter (07): the analogues of the paper's Fig. 5 (findings, the
real image and the methods' images, the finding's box drawn on each) and Fig. 6 (each method's
controls beside its image), and the report with the finding's words in capitals."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from radgazegen.core.labels import FINDING_KEYWORDS
from radgazegen.core.vocabulary import LABELS
from radgazegen.figures import image_grid, withheld


def highlight_finding(text: str, finding: str) -> str:
    """The report ``text`` with the words that name ``finding`` (``labels.FINDING_KEYWORDS``,
    punctuation aside) in capitals. Used by chapter 07."""
    return " ".join(w.upper() if w.lower().strip(".,;:") in FINDING_KEYWORDS.get(finding, ()) else w for w in text.split())


def finding_boxes(truth, items: Sequence, findings: Sequence[str], resolution: int) -> list:
    """The ground-truth box of each item's finding, ``(x0, y0, x1, y1)`` in pixels of the
    ``resolution`` x ``resolution`` generated image (``gaze.finding_box``); None where there is
    none (``truth`` None: real data). Used by chapter 07."""
    from PIL import Image

    from radgazegen.controls import gaze

    boxes = []
    for it, finding in zip(items, findings):
        with Image.open(it.image_path) as im:
            boxes.append(gaze.finding_box(truth, it.dicom_id, finding, im.size, (resolution, resolution)))
    return boxes


def findings_figure(real: np.ndarray, generated: Mapping[str, np.ndarray], methods: Sequence[str],
                    findings: Sequence[str], boxes: Sequence, show: bool):
    """Fig. 5 analogue: one row per finding (labelled "i. finding"), the real image (withheld
    unless ``show``) then one column per method of ``methods`` that was ``generated`` (name ->
    ``(N, R, R)`` uint8), each cell with the finding's box (``boxes``, one per row, None for
    none). None when there is no finding. Used by chapter 07."""
    n = len(findings)
    if not n:
        return None
    cols = ["real", *(m for m in methods if m in generated)]
    grid = [[withheld(real[i], show) if c == "real" else generated[c][i] for c in cols] for i in range(n)]
    return image_grid(grid, titles=[cols if i == 0 else [""] * len(cols) for i in range(n)],
                      boxes=[None if boxes[i] is None else [boxes[i]] for i in range(n) for _ in cols],
                      row_labels=[f"{i + 1}. {findings[i]}" for i in range(n)], cell=6.4 / len(cols))


def controls_figure(panels: Sequence[tuple[str, Sequence[str]]], generated: Mapping[str, np.ndarray], batch):
    """Fig. 6 analogue: one row per method (``panels``: its name and controls), the first test
    item's controls (``batch.conditioning``, first channel, [0, 1]) left-aligned, and the
    method's image of that item in the last column. None when no method. Used by chapter 07."""
    if not panels:
        return None
    ncol = max([len(cs) for _, cs in panels], default=0) + 1
    grid = [[batch.conditioning[c][0, 0].numpy() for c in cs] + [None] * (ncol - 1 - len(cs)) + [generated[name][0]]
            for name, cs in panels]
    titles = [[*(LABELS[c] for c in cs), *[""] * (ncol - 1 - len(cs)), "generated"] for _, cs in panels]
    return image_grid(grid, titles=titles, row_labels=[name for name, _ in panels], cell=6.4 / ncol,
                      title_colors=[None if j < ncol - 1 else "navy" for _ in panels for j in range(ncol)])
