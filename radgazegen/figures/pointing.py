"""Chapter 13's figure of the moved-gaze test (``metrics.moved_gaze``): per test finding its gaze
control as recorded and moved, and each method's image with the localiser's strongest point."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from radgazegen.figures import FIG_WIDTH_IN


def moved_examples_figure(original: np.ndarray, moved_controls: np.ndarray, images: dict, own_boxes: Sequence,
                          gazed_boxes: Sequence, findings: Sequence[str], localiser, n_rows: int):
    """Per row (the first ``n_rows`` findings) the gaze control as recorded and moved (``(N, 3,
    R, R)`` in [0, 1], channel 0 shown), then each method's first-seed image (``images``: name ->
    ``(seeds, N, R, R)`` uint8) with a yellow cross at ``localiser``'s strongest point
    (``heatmaps``). Red: the finding's box in the real image; cyan: the gazed box (boxes
    ``(x0, y0, x1, y1)`` on the R grid). Row labels: the findings. Used by chapter 13."""
    import matplotlib.pyplot as plt

    r_px = original.shape[-1]
    n_rows = min(n_rows, len(original))
    cols = ["gaze (original)", "gaze (moved)", *images]
    fig, axes = plt.subplots(n_rows, len(cols), figsize=(FIG_WIDTH_IN, 1.45 * n_rows + 0.4), squeeze=False)
    for r in range(n_rows):
        panels = [original[r, 0], moved_controls[r, 0], *(images[n][0][r] for n in images)]
        for c, (ax, im) in enumerate(zip(axes[r], panels)):
            ax.imshow(im, cmap="gray")
            for b, color in ((own_boxes[r], "red"), (gazed_boxes[r], "cyan")):
                ax.add_patch(plt.Rectangle(b[:2], b[2] - b[0], b[3] - b[1], fill=False, edgecolor=color, lw=1))
            if c >= 2:
                y, x = np.unravel_index(localiser.heatmaps(im[None])[0].argmax(), (r_px, r_px))
                ax.plot(x, y, "x", color="yellow", ms=6)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=8)
        axes[r][0].set_ylabel(findings[r], fontsize=8)
    fig.tight_layout()
    return fig
