"""Figures of the training chapters (04 SD-CXR, 05 Rad-CN, 06 HVA-CN): one loss-curve figure for
all three, and the grids of validation images (one row per held-out test item)."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from radgazegen.figures import FIG_WIDTH_IN, image_grid, withheld


def running_mean(loss: pd.Series) -> pd.Series:
    """The running mean of a loss log (one value per optimiser step) over a window of a tenth of
    its length (at least 1 step), from the first step on: what the chapters' loss figures draw
    and the first and last values they quote. Used by chapters 04, 05 and 06."""
    return loss.rolling(max(1, len(loss) // 10), min_periods=1).mean()


def plot_training_loss(logs: Mapping[str, pd.DataFrame], per_step: bool = False, legend_below: bool = False):
    """The training loss (noise-prediction MSE, Eq. 1's objective) against the optimiser step.

    logs: model name -> its loss log (columns ``step``, ``loss``). ``per_step`` (one model,
    chapter 04): a 5.5 x 3 in figure with the loss of every step and its ``running_mean``;
    otherwise (chapters 05, 06) one running-mean line per model on a figure the book's width,
    its legend in three columns under the axes when ``legend_below`` (chapter 05's many models).
    Returns the figure."""
    if per_step:
        (log,) = logs.values()
        fig, ax = plt.subplots(figsize=(5.5, 3))
        ax.plot(log.step, log.loss, lw=1, alpha=0.5, label="per step")
        ax.plot(log.step, running_mean(log.loss), lw=2, label="running mean")
        ax.set(xlabel="optimiser step", ylabel="noise-prediction MSE")
        ax.legend(frameon=False, fontsize=9)
    else:
        fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 3.0))
        for name, log in logs.items():
            ax.plot(log.step, running_mean(log.loss), lw=1.5, label=name)
        ax.set(xlabel="optimiser step", ylabel="noise-prediction MSE\n(running mean)")
        if legend_below:
            ax.legend(frameon=False, fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
        else:
            ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def real_radiographs(batch, show: bool) -> list[np.ndarray]:
    """The real test radiographs of a ``training_data`` batch as ``(R, R)`` uint8, one per item,
    withheld (grey panels) unless ``show`` (``figures.withheld``). Used by chapters 05 and 06."""
    from radgazegen.models.training_data import to_uint8

    return withheld([to_uint8(batch.pixel_values[i:i + 1])[0] for i in range(len(batch.pixel_values))], show)


def control_maps(batch, control: str) -> list[np.ndarray]:
    """The ``control`` map of each item of a ``training_data`` batch: ``(R, R)`` float in [0, 1]
    (its first channel). Used by chapters 05 and 06."""
    return [batch.conditioning[control][i, 0].numpy() for i in range(len(batch.conditioning[control]))]


def control_columns(batch, controls: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """The columns of a figure of controls: each control's name as the book writes it
    (``vocabulary.LABELS``: "Canny", "lung mask") -> ``control_maps``. Used by chapter 05."""
    from radgazegen.core.vocabulary import LABELS

    return {LABELS.get(c, c): control_maps(batch, c) for c in controls}


def item_rows_figure(columns: Mapping[str, Sequence], cell: float | None = None):
    """One row per test item, one column per entry of ``columns`` (head -> that column's image
    of each item, ``(H, W)`` arrays), the heads over the first row; ``cell``: inches per image
    (default ``min(2.0, FIG_WIDTH_IN / columns)``). None when there is no item. Used by
    chapters 05 and 06."""
    heads, images = list(columns), list(columns.values())
    n = len(images[0]) if images else 0
    if not n:
        return None
    grid = [[col[i] for col in images] for i in range(n)]
    return image_grid(grid, titles=[heads if i == 0 else [""] * len(heads) for i in range(n)],
                      cell=min(2.0, FIG_WIDTH_IN / len(heads)) if cell is None else cell)


def sd_cxr_samples_figure(test_items: Sequence, images: np.ndarray, resolution: int, show: bool):
    """Chapter 04's held-out test reports: for at most four items across, a row of the real
    radiographs (titled with the start of their report; withheld unless ``show``) and below it
    the row SD-CXR generated from those reports (``images``: ``(N, R, R)`` uint8). None when
    there is no test item. Used by chapter 04."""
    from radgazegen.models.training_data import read_gray

    grid, titles, labels = [], [], []
    for k in range(0, len(test_items), 4):  # at most four prompts across: a real row, then its SD-CXR row
        chunk = list(zip(test_items, images))[k:k + 4]
        reals = [read_gray(it.image_path, resolution, "radiograph") for it, _ in chunk]
        grid += [withheld(reals, show), [im for _, im in chunk]]
        titles += [[it.prompt[:40] + "..." for it, _ in chunk], [""] * len(chunk)]
        labels += ["real", "SD-CXR"]
    return image_grid(grid, titles=titles, row_labels=labels, cell=1.6) if grid else None
