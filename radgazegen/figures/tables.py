"""Figures of the results-table chapters (08-13)."""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np


def loss_curve(losses: Sequence[float], ylabel: str = "contrastive loss"):
    """A line of one training's mean loss per epoch (x: epoch 1..E; y: ``ylabel``), 4.5 x 2.8
    inches; returns the figure (for ``glue_figure``). Used by chapter 09 (the study's
    image-report model that stands in for CLIP)."""
    fig, ax = plt.subplots(figsize=(4.5, 2.8))
    ax.plot(np.arange(1, len(losses) + 1), losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return fig
