"""Figures of the data and control chapters: readings (chapter 01), the controls side by side
and the localisation sweep (chapter 02), the hypotheses of Fig. 4 and their rates (chapter 03).

Each function returns a matplotlib figure (or None when there is nothing to draw, for
``glue_figure``'s ``empty`` message); the chapter glues it. Radiographs read from a data root
pass through ``withheld`` (the privacy guard); controls never do.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import matplotlib.pyplot as plt
import numpy as np

from radgazegen import data
from radgazegen.controls import gaze
from radgazegen.figures import FIG_WIDTH_IN, draw_reading, image_grid, withheld

#: Column titles of chapter 02's control figures: four radiomics panels, then three gaze panels.
RADIOMICS_TITLES = ["radiograph", "Canny", "Sobel", "GL"]


def readings_figure(recs: Sequence, titles: Sequence[str], show_real_images: bool):
    """Readings two per row (the book's width keeps the 8 pt titles legible), or None for none.

    recs: ``data.Record`` s with fixations (original pixels, seconds) and boxes; titles: one per
    record; show_real_images: the privacy guard's switch (``withheld``). Each panel is
    ``draw_reading`` on the record's radiograph. Used by chapter 01.
    """
    if not recs:
        return None
    ncol = min(2, len(recs))
    nrow = -(-len(recs) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.5 * nrow), squeeze=False)
    for ax in axes.flat[len(recs):]:
        ax.axis("off")
    for ax, rec, title in zip(axes.flat, recs, titles):
        draw_reading(ax, withheld(data.load_image(rec), show_real_images), rec.fixations, rec.boxes, title=title)
    fig.tight_layout()
    return fig


def control_figures(examples: Sequence, maps: dict, hva_finding: dict, hva_lambda: float,
                    size: tuple[int, int], show_real_images: bool) -> dict:
    """Chapter 02's two control figures (cf. paper Fig. 2A and Fig. 6), one row per finding.

    examples: (record, (finding, keywords, box in original pixels)) pairs (``example_findings``);
    maps: control name -> dicom id -> ``(S, S)`` uint8 map (canny, sobel, gl, lung with lungs
    1 / 2); hva_finding: (dicom id, finding) -> V^m ``(S, S)`` float in [0, 1]; hva_lambda:
    threshold of V^m; size: (S, S) control grid, pixels. Returns {"fig-02-radiomics": radiograph
    with the finding's box (red) and the three radiomics maps, "fig-02-gaze": lung mask, V^m and
    its mask with the box}; each None when ``examples`` is empty. Used by chapter 02.
    """
    cols = [*RADIOMICS_TITLES, "lung mask", "HVA map $\\mathcal{V}^m$", f"mask, λ = {hva_lambda:g}"]
    radiomics, gaze_panels, finding_boxes = [], [], []
    for rec, (name, keys, box) in examples:
        image = cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA)
        v = hva_finding[rec.dicom_id, name]
        radiomics.append([withheld(image, show_real_images), *(maps[k][rec.dicom_id] for k in ("canny", "sobel", "gl"))])
        gaze_panels.append([maps["lung"][rec.dicom_id] * 127, v, gaze.threshold(v, hva_lambda)])
        finding_boxes.append([gaze.box_to_grid(box, rec.image_size, size)])
    labels = [name for _, (name, _, _) in examples]
    out = {}
    for key, panels, heads, box_col, cmaps in (("fig-02-radiomics", radiomics, cols[:4], 0, "gray"),
                                               ("fig-02-gaze", gaze_panels, cols[4:], 2, ["gray", "inferno", "gray"] * len(examples))):
        out[key] = image_grid(
            panels, titles=[heads if r == 0 else [""] * len(heads) for r in range(len(panels))],
            boxes=[b if c == box_col else None for b in finding_boxes for c in range(len(heads))],
            cmap=cmaps, row_labels=labels, cell=1.6 if box_col == 0 else 2.0) if examples else None
    return out


def sweep_figure(summary):
    """Gaze-only localisation against lambda, one line per sigma: hit rate (left), mean IoU (right).

    summary: ``localisation.sweep_summary``'s frame, indexed by (sigma_px, lambda), columns hit
    (fraction in [0, 1]) and iou (mean in [0, 1]). Used by chapter 02.
    """
    fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH_IN, 3.0))
    for sigma, part in summary.groupby(level=0):
        axes[0].plot(part.index.get_level_values(1), part["hit"], "o-", label=f"σ = {sigma:g} px")
        axes[1].plot(part.index.get_level_values(1), part["iou"], "o-", label=f"σ = {sigma:g} px")
    axes[0].set(xlabel="λ", ylabel="fraction of findings hit", ylim=(0, 1.05))
    axes[1].set(xlabel="λ", ylabel="mean IoU with the box", ylim=(0, 1.05))
    axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def hypothesis_gaze_figure(examples: Sequence, size: tuple[int, int], show_real_images: bool):
    """Per finding: the read image with its gaze mask shaded over it, and V^k; None for none.

    examples: (record, V^k ``(S, S)`` float in [0, 1], mask ``(S, S)`` 0 / 255, ``Selection``)
    tuples (``hypothesis_steps.hypothesis_examples``); size: (S, S) control grid. Used by chapter 03.
    """
    if not examples:
        return None
    gaze_grid = [[withheld(cv2.resize(data.load_image(rec), size, interpolation=cv2.INTER_AREA), show_real_images), v]
                 for rec, v, mask, sel in examples]
    return image_grid(
        gaze_grid, titles=[["read image, gaze mask", "HVA map $V^k$"] if i == 0 else ["", ""] for i in range(len(examples))],
        row_labels=[sel.finding for *_, sel in examples], cell=2.2, cmap=["gray", "inferno"] * len(examples),
        vlims=[None, (0, 1)] * len(examples),
        overlays=[o for _, _, mask, _ in examples for o in (np.ma.masked_where(np.asarray(mask) == 0, np.ones(np.shape(mask))), None)],
    )


def bags_figure(examples: Sequence, radiograph: Callable[[str], np.ndarray],
                bag_box: Callable[[str, str], tuple | None], show_real_images: bool):
    """Per finding, a row of bag images B^k_j (their own finding box in red) and a row of their
    hypotheses H^k_j titled with D_j, the selected one framed in green; None for none.

    examples: as ``hypothesis_gaze_figure``; radiograph: dicom id -> ``(S, S)`` uint8 training
    radiograph; bag_box: (dicom id, finding) -> box on the control grid, or None. Used by chapter 03.
    """
    grid, titles, labels, cells = [], [], [], {"boxes": [], "title_colors": [], "frames": []}
    for rec, v, mask, sel in examples:
        n = len(sel.bag)
        grid += [withheld([radiograph(d) for d in sel.bag], show_real_images),  # hypotheses are masked radiographs too
                 withheld(list(sel.hypotheses[:n]), show_real_images)]
        labels += [f"{sel.finding}: bag", "hypotheses"]
        titles += [[f"$B^k_{{{j + 1}}}$" for j in range(n)], [f"D = {sel.scores[j]:.3f}" for j in range(n)]]
        bag_boxes = [bag_box(d, sel.finding) for d in sel.bag]
        best = ["green" if j == sel.best else None for j in range(n)]
        cells["boxes"] += [None if b is None else [b] for b in bag_boxes] + [None] * n
        cells["title_colors"] += [None] * n + best
        cells["frames"] += [None] * n + best
    return image_grid(grid, titles=titles, row_labels=labels, cell=1.3, **cells) if grid else None


def rates_figure(overall):
    """The selection by D against a random pick from the bag: two groups of bars ("located",
    "mixed bag: labelled k"), fractions in [0, 1]. overall: a Series with located,
    located_chance, mixed_right, mixed_chance (``hypothesis_steps.selection_rates``). Used by chapter 03.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3))
    xs = np.arange(2)
    ax.bar(xs - 0.18, [overall["located"], overall["mixed_right"]], 0.36, label="selected by $\\mathcal{D}$")
    ax.bar(xs + 0.18, [overall["located_chance"], overall["mixed_chance"]], 0.36, label="random pick from the bag",
           color="0.7")
    ax.set_xticks(xs, ["located", "mixed bag: labelled k"])
    ax.set(ylim=(0, 1.05), ylabel="fraction of findings")
    ax.legend(fontsize=9, frameon=False)
    fig.tight_layout()
    return fig
