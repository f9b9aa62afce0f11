"""Figures shared by the notebooks (matplotlib). Each function draws on axes it is given
or creates, and returns the figure, so notebooks decide layout and the book shows it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from radgazegen.labels import LT_MEDIUM, LT_TAIL

GROUP_COLOURS = {"head": "#4c72b0", "medium": "#dd8452", "tail": "#c44e52"}


def lt_group(label: str) -> str:
    """"head", "medium" or "tail" for a MIMIC-CXR-LT class (the paper's grouping)."""
    return "tail" if label in LT_TAIL else "medium" if label in LT_MEDIUM else "head"


def draw_reading(ax, image: np.ndarray, fixations: pd.DataFrame | None = None,
                 boxes: Sequence = (), title: str = "", max_marker: float = 120.0) -> None:
    """Radiograph with fixations and finding boxes.

    image: (H, W) uint8. fixations: columns x, y (original-image pixels), start, end
    (seconds); drawn as circles whose area grows with duration and whose colour runs
    from early (dark) to late (yellow) in the reading. boxes: objects with label, xmin,
    ymin, xmax, ymax (pixels), drawn as red rectangles.
    """
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    if fixations is not None and len(fixations):
        dur = (fixations["end"] - fixations["start"]).clip(lower=0.02).to_numpy()
        ax.scatter(fixations["x"], fixations["y"], s=max_marker * dur / dur.max(),
                   c=fixations["start"], cmap="viridis", alpha=0.75, linewidths=0)
        ax.plot(fixations["x"], fixations["y"], color="yellow", lw=0.4, alpha=0.35)
    for b in boxes:
        ax.add_patch(plt.Rectangle((b.xmin, b.ymin), b.xmax - b.xmin, b.ymax - b.ymin,
                                   fill=False, edgecolor="red", lw=1.5))
        ax.text(b.xmin, b.ymin - 3, b.label, color="red", fontsize=7, va="bottom")
    ax.set_title(title, fontsize=8)
    ax.set_xlim(0, image.shape[1])
    ax.set_ylim(image.shape[0], 0)
    ax.axis("off")


def plot_label_distribution(counts: pd.Series, title: str = "", ax=None):
    """Bar chart (log scale) of images per MIMIC-CXR-LT class, coloured head / medium / tail.

    counts: class name -> number of images, in the order to plot.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6))
    colours = [GROUP_COLOURS[lt_group(c)] for c in counts.index]
    ax.bar(range(len(counts)), counts.to_numpy(), color=colours)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(range(len(counts)), counts.index, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("images (log scale)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in GROUP_COLOURS.values()]
    ax.legend(handles, list(GROUP_COLOURS), fontsize=8, frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def plot_reading_timeline(fixations: pd.DataFrame, words: pd.DataFrame, image_size: tuple[int, int],
                          highlight: Sequence[str] = (), ax=None):
    """Fixation x/y position (fraction of the image) over time, with the dictated words.

    Shows the two phases of a reading: the search of the chest, then dwell on each
    finding while it is dictated. Words in ``highlight`` (finding keywords) are marked.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.8))
    w, h = image_size
    mid = (fixations["start"] + fixations["end"]) / 2
    ax.plot(mid, fixations["x"] / w, ".-", lw=0.6, ms=3, label="x / width")
    ax.plot(mid, fixations["y"] / h, ".-", lw=0.6, ms=3, label="y / height")
    lowered = {k.lower() for k in highlight}
    for _, wd in words.iterrows():
        hit = str(wd["word"]).strip(".,;:").lower() in lowered
        if hit:
            ax.axvspan(wd["start"], wd["end"], color="red", alpha=0.25)
            ax.text(wd["start"], 1.02, str(wd["word"]), fontsize=7, color="red", rotation=30)
    ax.set_xlabel("seconds from the start of the dictation")
    ax.set_ylabel("gaze position")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def plot_validation_steps(paths, title: str):
    """The validation images a training run wrote (one PNG row per validation step), stacked."""
    import cv2

    if not paths:
        print("no validation images (validate_every = 0)")
        return None
    rows = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths]
    h, w = rows[0].shape
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(12, 1.2 * w / h * 2), 1.6 * len(rows)), squeeze=False)
    for ax, path, row in zip(axes[:, 0], paths, rows):
        ax.imshow(row, cmap="gray")
        ax.set_ylabel(Path(path).stem.replace("step-", "step "), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
