"""The long-tail chapter's figure (chapter 11): the training set per class, real images and the
generated ones stacked on top."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd


def top_up_figure(counts: pd.Series, need: Mapping[str, int], classes: Sequence[str]):
    """One bar per class of ``classes`` (x labels at 70 degrees, 8 pt): ``counts`` real training
    images (indexed by class), with ``need[k]`` generated images stacked on top (0 for a class
    not in ``need``, the head classes); symmetric-log y axis (images), legend without frame.
    Returns the figure, ``FIG_WIDTH_IN`` x 3.6 in. Used by chapter 11."""
    import matplotlib.pyplot as plt

    from radgazegen.figures import FIG_WIDTH_IN

    fig, ax = plt.subplots(figsize=(FIG_WIDTH_IN, 3.6))
    ax.bar(range(len(classes)), counts.values, label="real training images")
    ax.bar(range(len(classes)), [need.get(k, 0) for k in classes], bottom=counts.values, label="generated")
    ax.set_xticks(range(len(classes)), classes, rotation=70, ha="right", fontsize=8)
    ax.set_yscale("symlog")
    ax.set_ylabel("images")
    ax.legend(fontsize=9, frameon=False)
    fig.tight_layout()
    return fig
